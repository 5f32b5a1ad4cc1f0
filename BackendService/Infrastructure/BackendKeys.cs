using DirectorsConsole.ServiceDefaults.Backends;
namespace DirectorsConsole.BackendService.Infrastructure;

/// <summary>Every Redis key and channel of the backend registry, runtime state and leases.</summary>
public static class BackendKeys
{
    /// <summary>Hash: backend id → <see cref="ServiceDefaults.Backends.BackendDefinition"/> as snake_case JSON.</summary>
    public const string Definitions = BackendDirectoryKeys.Definitions;

    /// <summary>Set of ids of config.yaml / COMFY_NODES backends deleted through the API, so that seeding at the
    /// next start does not bring them back. A POST of the same id removes it.</summary>
    public const string DeletedSeeds = "dc:backends:deleted";

    /// <summary>Hash: backend id → <see cref="ServiceDefaults.Backends.BackendRuntimeState"/> as snake_case JSON.</summary>
    public const string States = BackendDirectoryKeys.States;

    /// <summary>Hash: backend id → the definition of a backend deleted while prompts were in flight on it. Its lease
    /// holder keeps watching those prompts (taking no new ones) until they end, then removes the entry.</summary>
    public const string Retiring = "dc:backends:retiring";

    /// <summary>Hash: backend id → its last saved status alone, so the save script can tell a status change
    /// without parsing JSON in Lua.</summary>
    public const string Statuses = "dc:backends:status";

    /// <summary>Sorted set of live BackendService replicas, scored by the Unix time (ms) their heartbeat expires.</summary>
    public const string Replicas = "dc:backends:replicas";

    /// <summary>Pub/sub channel a replica subscribes to for as long as it lives, and on which nothing is published: its
    /// subscriber count (PUBSUB NUMSUB) drops to 0 the moment the replica's Redis connection closes, so its peers see
    /// it die without waiting for its leases to expire.</summary>
    public static string ReplicaPresence(string replicaId) => $"dc:backends:replica:{replicaId}:presence";

    /// <summary>Pub/sub channel of <see cref="Model.BackendRegistryChanged"/>.</summary>
    public const string RegistryChanges = "dc:events:backend-registry";

    /// <summary>String holding the id of the replica that talks to the backend; expires unless renewed.</summary>
    public static string Lease(string backendId) => $"dc:backend:{backendId}:lease";

    /// <summary>String: the token of the last create or delete of the backend through the registry, kept a day, so a
    /// create or delete sent again after its reply was lost recognises that it was carried out.</summary>
    public static string LastChange(string backendId) => $"dc:backend:{backendId}:change";

    /// <summary>Hash of the prompts the dispatcher has posted to the backend and not seen end (owned by the
    /// dispatcher; its HLEN is the backend's <c>in_flight_jobs</c>).</summary>
    public static string InFlight(string backendId) => $"dc:backend:{backendId}:inflight";

    /// <summary>Hash: render agent id → its last registration (<see cref="Agents.AgentRegistration"/>) as snake_case JSON.</summary>
    public const string AgentRegistrations = "dc:agents:registration";

    /// <summary>Hash: render agent id → its last heartbeat report (<see cref="Agents.AgentHeartbeat"/>) as snake_case JSON.</summary>
    public const string AgentReports = "dc:agents:report";

    /// <summary>Hash: render agent id → the Unix time (ms) of its last registration, ping or report; the agent is
    /// offline once this is older than <c>Agents:HeartbeatTtl</c>.</summary>
    public const string AgentLastSeen = "dc:agents:last-seen";
}
