using System.Text.Json;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.BackendService.Agents;

/// <summary>What the suite last heard from a render agent: its registration, its last report and when it was last
/// heard from (registration, ping or report).</summary>
public sealed record AgentPresence(AgentRegistration? Registration, AgentHeartbeat? Report, DateTimeOffset? LastSeen);

/// <summary>
/// The presence of render agents in Redis (<see cref="BackendKeys.AgentRegistrations"/>, <see cref="BackendKeys.AgentReports"/>,
/// <see cref="BackendKeys.AgentLastSeen"/>), written by whichever replica an agent's request reaches and read by the
/// replica holding the agent backend's lease, whose probe turns it into the backend's runtime state as a node's probe
/// does (so its status, <c>/health</c>, metrics and fail-over work unchanged).
/// </summary>
public sealed class AgentPresenceStore(IRedisConnection redis, TimeProvider timeProvider, ILogger<AgentPresenceStore> logger)
{
    public async Task RegisterAsync(string agentId, AgentRegistration registration, CancellationToken cancellationToken)
    {
        await redis.HashSetAsync(BackendKeys.AgentRegistrations, agentId, JsonSerializer.Serialize(registration, DispatchJson), cancellationToken);
        await SeenAsync(agentId, cancellationToken);
    }

    public Task SeenAsync(string agentId, CancellationToken cancellationToken) =>
        redis.HashSetAsync(BackendKeys.AgentLastSeen, agentId, timeProvider.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);

    public async Task ReportAsync(string agentId, AgentHeartbeat report, CancellationToken cancellationToken)
    {
        await redis.HashSetAsync(BackendKeys.AgentReports, agentId,
            JsonSerializer.Serialize(report with { ReportedAt = timeProvider.GetUtcNow() }, DispatchJson), cancellationToken);
        await SeenAsync(agentId, cancellationToken);
    }

    public async Task<AgentPresence> GetAsync(string agentId, CancellationToken cancellationToken)
    {
        var registration = redis.HashGetAsync(BackendKeys.AgentRegistrations, agentId, cancellationToken);
        var report = redis.HashGetAsync(BackendKeys.AgentReports, agentId, cancellationToken);
        var lastSeen = redis.HashGetAsync(BackendKeys.AgentLastSeen, agentId, cancellationToken);
        await Task.WhenAll(registration, report, lastSeen);
        return new AgentPresence(
            Read<AgentRegistration>(agentId, await registration),
            Read<AgentHeartbeat>(agentId, await report),
            long.TryParse(await lastSeen, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null);
    }

    private static JsonSerializerOptions DispatchJson => Dispatch.DispatchStore.Json;

    /// <summary>The stored record, or null: absent, or unreadable (an agent registers again at its next 404 and reports
    /// again at its next heartbeat, so nothing is lost, but the record's problem is logged).</summary>
    private T? Read<T>(string agentId, string? json)
        where T : class
    {
        if (json is null)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<T>(json, DispatchJson);
        }
        catch (JsonException ex)
        {
            logger.LogWarning(ex, "The stored {Record} of render agent {AgentId} is unreadable; it counts as absent", typeof(T).Name, agentId);
            return null;
        }
    }
}
