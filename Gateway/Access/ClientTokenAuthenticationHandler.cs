using System.Text.Encodings.Web;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace DirectorsConsole.Gateway.Access;

/// <summary>
/// Authenticates a request by its client token (see <see cref="PresentedToken"/>) and answers the refusals the
/// authorization step asks for: 401 with <c>WWW-Authenticate</c> when a token is missing, 403 when it is not one
/// of the clients' or its client's role is too low, each with a problem body whose <c>detail</c> says what the
/// route needs. The token itself is never logged or repeated in an answer.
/// </summary>
public sealed class ClientTokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ClientDirectory clients)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ClientToken";

    /// <summary>The challenge of a 401: the header to send the token in.</summary>
    public const string Challenge = $"{SchemeName} realm=\"DirectorsConsole\", header=\"{AccessHeaders.ClientToken}\"";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var candidates = PresentedToken.Candidates(Request);
        if (candidates.Count == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        foreach (var candidate in candidates)
        {
            if (clients.Find(candidate.Value) is { } client)
            {
                Context.Features.Set(candidate);
                return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(ClientDirectory.PrincipalOf(client, SchemeName), SchemeName)));
            }
        }

        Logger.LogInformation("{Method} {Path}: the client token (from the {Source}) matches no configured client",
            Request.Method, Request.Path, candidates[0].Source);
        return Task.FromResult(AuthenticateResult.Fail("The client token matches no configured client."));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var required = AccessRules.RequiredRole(Request.Method, Request.Path);
        if ((await HandleAuthenticateOnceSafeAsync()).Failure is not null)
        {
            await ApiErrorHandling.WriteProblemAsync(Context, StatusCodes.Status403Forbidden,
                $"The client token is not valid; {Describe(required)}.");
            return;
        }

        Response.Headers[HeaderNames.WWWAuthenticate] = Challenge;
        await ApiErrorHandling.WriteProblemAsync(Context, StatusCodes.Status401Unauthorized,
            $"A client token is required: send it in the {AccessHeaders.ClientToken} header; {Describe(required)}.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var (name, role) = clients.CallerOf(Context.User);
        var required = AccessRules.RequiredRole(Request.Method, Request.Path);
        Logger.LogInformation("{Method} {Path}: client {Client} ({Role}) refused, {Required} needed",
            Request.Method, Request.Path, name, role.Name(), required.Name());
        return ApiErrorHandling.WriteProblemAsync(Context, StatusCodes.Status403Forbidden,
            $"The client '{name}' has the role '{role.Name()}'; {Describe(required)}.");
    }

    private string Describe(ClientRole required) =>
        $"{Request.Method} {Request.Path} needs the role '{required.Name()}' or higher";
}
