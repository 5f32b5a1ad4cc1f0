using Microsoft.Extensions.Configuration;

namespace DirectorsConsole.ServiceDefaults.Access;

/// <summary>
/// Who may call the suite, from the top level of config.yaml (or <c>ORCHESTRATOR_*</c> variables, e.g.
/// <c>ORCHESTRATOR_ANONYMOUS_ROLE</c>). The Gateway checks every request against <see cref="Clients"/>; the
/// services only check that a request came through the Gateway (<see cref="GatewaySecret"/>). Validated at start
/// by <see cref="AccessOptionsValidator"/>.
/// </summary>
public sealed class AccessOptions
{
    /// <summary>The callers that present a token (header <c>X-Client-Token</c>).</summary>
    [ConfigurationKeyName("clients")]
    public List<ClientOptions> Clients { get; set; } = [];

    /// <summary>The role of a caller without a token: <c>none</c>, <c>viewer</c>, <c>operator</c> or <c>admin</c>.
    /// Unset: <c>none</c> when any client is configured, otherwise <c>admin</c> (an open suite, as before
    /// clients existed).</summary>
    [ConfigurationKeyName("anonymous_role")]
    public string? AnonymousRole { get; set; }

    /// <summary>Lets the Gateway listen beyond loopback while callers without a token have a role. Without it
    /// such a Gateway refuses to start, so an open suite is never exposed by accident.</summary>
    [ConfigurationKeyName("allow_anonymous_network")]
    public bool AllowAnonymousNetwork { get; set; }

    /// <summary>The secret the Gateway adds to every request it forwards and every service requires (except on
    /// its probes). The AppHost makes a new one for each run; services run without the AppHost share one through
    /// <c>ORCHESTRATOR_GATEWAY_SECRET</c>. Unset: services accept any caller (only allowed with no clients).</summary>
    [ConfigurationKeyName("gateway_secret")]
    public string? GatewaySecret { get; set; }

    /// <summary>The SHA-256 (hex) of the shared worker token: any worker id may use it on <c>/_worker/**</c>.</summary>
    [ConfigurationKeyName("worker_token_sha256")]
    public string? WorkerTokenSha256 { get; set; }

    /// <summary>A shared worker token itself, whose digest the Gateway adds: how the AppHost hands the Gateway the token
    /// it made for its own render agents (<c>ORCHESTRATOR_WORKER_TOKEN</c>). At least 16 characters.</summary>
    [ConfigurationKeyName("worker_token")]
    public string? WorkerToken { get; set; }

    /// <summary>Worker tokens bound to one worker id each.</summary>
    [ConfigurationKeyName("workers")]
    public List<WorkerTokenOptions> Workers { get; set; } = [];

    /// <summary>True when any worker token is configured; without one, <c>/_worker/**</c> is refused.</summary>
    public bool HasWorkerTokens =>
        !string.IsNullOrWhiteSpace(WorkerTokenSha256) || !string.IsNullOrWhiteSpace(WorkerToken) || Workers.Count > 0;

    /// <summary>The role of a caller that presents no token.</summary>
    public ClientRole EffectiveAnonymousRole =>
        ClientRoles.TryParse(AnonymousRole, out var role) ? role
        : Clients.Count > 0 ? ClientRole.None
        : ClientRole.Admin;

    /// <summary>Why a Gateway listening beyond loopback must not start with these settings, or null when it may.</summary>
    public string? NetworkExposureRefusal(string listensOn) =>
        EffectiveAnonymousRole == ClientRole.None || AllowAnonymousNetwork
            ? null
            : $"The gateway would listen on {listensOn}, reachable from other machines, while callers without a token get the role " +
              $"'{EffectiveAnonymousRole.Name()}'{(Clients.Count == 0 ? " (no clients are configured)" : "")}. Configure clients with tokens " +
              "in config.yaml, listen on loopback (ORCHESTRATOR_HOST=127.0.0.1), or set allow_anonymous_network: true if this is meant.";
}

/// <summary>One entry of <c>clients</c>: a name, a role, and the token as its SHA-256 (hex) or the name of an
/// environment variable that holds it.</summary>
public sealed class ClientOptions
{
    [ConfigurationKeyName("name")]
    public string? Name { get; set; }

    [ConfigurationKeyName("role")]
    public string? Role { get; set; }

    [ConfigurationKeyName("token_sha256")]
    public string? TokenSha256 { get; set; }

    [ConfigurationKeyName("token_env")]
    public string? TokenEnv { get; set; }
}

/// <summary>One entry of <c>workers</c>: a worker id and its token as SHA-256 (hex) or the name of an environment
/// variable that holds it. The token may act only for that worker id.</summary>
public sealed class WorkerTokenOptions
{
    [ConfigurationKeyName("worker_id")]
    public string? WorkerId { get; set; }

    [ConfigurationKeyName("token_sha256")]
    public string? TokenSha256 { get; set; }

    [ConfigurationKeyName("token_env")]
    public string? TokenEnv { get; set; }
}
