using System.Text.Encodings.Web;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace DirectorsConsole.Gateway.Access;

/// <summary>
/// Authenticates the render agents' requests (<c>/_worker/**</c>, <see cref="AccessRules.RequiresWorker"/>) by their
/// <see cref="AccessHeaders.WorkerToken"/>, and answers the refusals: 401 with <c>WWW-Authenticate</c> when the token is
/// missing, 403 when it is no worker's, and 403 for everyone while no worker token is configured. A client token does
/// not open <c>/_worker</c>, and a worker token opens nothing else (the client handler never reads it). The token is
/// never logged or repeated in an answer.
/// </summary>
public sealed class WorkerTokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    WorkerDirectory workers)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "WorkerToken";

    public const string Challenge = $"{SchemeName} realm=\"DirectorsConsole\", header=\"{AccessHeaders.WorkerToken}\"";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = Request.Headers[AccessHeaders.WorkerToken].ToString();
        if (token.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (workers.Find(token) is { } workerId)
        {
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(WorkerDirectory.PrincipalOf(workerId, SchemeName), SchemeName)));
        }

        Logger.LogInformation("{Method} {Path}: the worker token matches no configured worker token", Request.Method, Request.Path);
        return Task.FromResult(AuthenticateResult.Fail("The worker token matches no configured worker token."));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (!workers.Any)
        {
            await ApiErrorHandling.WriteProblemAsync(Context, StatusCodes.Status403Forbidden,
                "No worker tokens are configured: set worker_token_sha256 or workers in config.yaml (the AppHost's --agents sets one of its own).");
            return;
        }

        if ((await HandleAuthenticateOnceSafeAsync()).Failure is not null)
        {
            await ApiErrorHandling.WriteProblemAsync(Context, StatusCodes.Status403Forbidden,
                $"The worker token is not valid; {Request.Method} {Request.Path} needs a worker token.");
            return;
        }

        Response.Headers[HeaderNames.WWWAuthenticate] = Challenge;
        await ApiErrorHandling.WriteProblemAsync(Context, StatusCodes.Status401Unauthorized,
            $"A worker token is required: send it in the {AccessHeaders.WorkerToken} header ({Request.Path} is the render agents' protocol; a client token does not open it).");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ApiErrorHandling.WriteProblemAsync(Context, StatusCodes.Status403Forbidden,
            $"{Request.Method} {Request.Path} needs a worker token.");
}
