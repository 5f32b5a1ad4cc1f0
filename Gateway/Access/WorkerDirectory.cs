using System.Security.Claims;
using DirectorsConsole.ServiceDefaults.Access;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.Gateway.Access;

/// <summary>A configured worker token: its SHA-256 and the worker id it may act for (<see cref="AccessHeaders.AnyWorker"/>: any).</summary>
public sealed record KnownWorkerToken(string WorkerId, byte[] TokenDigest);

/// <summary>
/// The worker tokens of config.yaml, as digests: the shared one (<c>worker_token_sha256</c>, and <c>worker_token</c>, the
/// token itself, which the AppHost sets for its own agents through <c>ORCHESTRATOR_WORKER_TOKEN</c>) and the bound ones
/// (<c>workers</c>, by <c>token_sha256</c> or the variable <c>token_env</c> names, read once at start). A presented
/// token is hashed and compared with every digest in constant time, all of them every time, as
/// <see cref="ClientDirectory"/> does for clients.
/// </summary>
public sealed class WorkerDirectory
{
    /// <summary>The claim a worker's principal carries: the worker id its token may act for.</summary>
    public const string WorkerIdClaim = "urn:directorsconsole:worker_id";

    private readonly KnownWorkerToken[] _tokens;

    public WorkerDirectory(IOptions<AccessOptions> options)
        : this(options.Value, Environment.GetEnvironmentVariable)
    {
    }

    public WorkerDirectory(AccessOptions options, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(options);
        var tokens = new List<KnownWorkerToken>();
        if (ClientTokenDigest.TryParseHex(options.WorkerTokenSha256, out var shared))
        {
            tokens.Add(new KnownWorkerToken(AccessHeaders.AnyWorker, shared));
        }

        if (!string.IsNullOrWhiteSpace(options.WorkerToken))
        {
            tokens.Add(new KnownWorkerToken(AccessHeaders.AnyWorker, ClientTokenDigest.Of(options.WorkerToken.Trim())));
        }

        foreach (var worker in options.Workers)
        {
            tokens.Add(new KnownWorkerToken(
                worker.WorkerId!.Trim(),
                ClientTokenDigest.TryParseHex(worker.TokenSha256, out var digest) ? digest : ClientTokenDigest.Of(environment(worker.TokenEnv!.Trim()) ?? "")));
        }

        _tokens = tokens.ToArray();
    }

    /// <summary>False when no worker token is configured: <c>/_worker/**</c> is then refused to everyone.</summary>
    public bool Any => _tokens.Length > 0;

    /// <summary>The worker id the token may act for, or null when it is no worker token.</summary>
    public string? Find(string token)
    {
        var presented = ClientTokenDigest.Of(token);
        string? found = null;
        foreach (var known in _tokens)
        {
            if (ClientTokenDigest.Matches(presented, known.TokenDigest))
            {
                found ??= known.WorkerId;
            }
        }

        return found;
    }

    public static ClaimsPrincipal PrincipalOf(string workerId, string authenticationType) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, $"worker:{workerId}"), new Claim(WorkerIdClaim, workerId)], authenticationType));

    /// <summary>The worker id a request's principal may act for, or null when it is not a worker's.</summary>
    public static string? WorkerIdOf(ClaimsPrincipal user) =>
        user.Identity is { IsAuthenticated: true } ? user.FindFirstValue(WorkerIdClaim) : null;
}
