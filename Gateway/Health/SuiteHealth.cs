namespace DirectorsConsole.Gateway.Health;

/// <summary>The suite's status as the original server named it: the web app counts the orchestrator online only
/// when it reads <c>healthy</c> or <c>degraded</c>.</summary>
public enum SuiteStatus { Healthy, Degraded }

public enum ServiceStatus { Healthy, Degraded, Unhealthy, NoInstances }

public enum ReplicaStatus { Healthy, Degraded, Unhealthy, Unreachable }

/// <summary>
/// The body of <c>GET /health</c>: the original's fields (API doc 3) plus what each service and replica
/// reported. <see cref="Failing"/> names every service that is not healthy.
/// </summary>
public sealed record SuiteHealth(
    SuiteStatus Status,
    string Service,
    DateTimeOffset Timestamp,
    int BackendsOnline,
    string Version,
    IReadOnlyDictionary<string, ServiceStatus> Services,
    IReadOnlyList<string> Failing,
    IReadOnlyDictionary<string, IReadOnlyList<ReplicaHealth>> Instances);

/// <summary>One replica's answer to <c>GET /health</c>; <see cref="Detail"/> says why it is not healthy.</summary>
public sealed record ReplicaHealth(string Address, ReplicaStatus Status, string? Detail);

/// <summary><c>GET /_public/status</c> (API doc 5).</summary>
public sealed record PublicStatus(string Status);
