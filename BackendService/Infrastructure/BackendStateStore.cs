using System.Text.Json;
using DirectorsConsole.BackendService.Model;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Backends;

namespace DirectorsConsole.BackendService.Infrastructure;

/// <summary>
/// The runtime state of every backend in Redis (<see cref="BackendKeys.States"/>), written by the replica
/// holding the backend's lease and read by every replica. Reads fill <see cref="BackendRuntimeState.InFlightJobs"/>
/// from the dispatcher's in-flight hash and re-derive idle/busy from it, so a prompt posted since the last probe
/// already shows the backend busy. A save that changes the status publishes <see cref="BackendStatusChanged"/>.
/// </summary>
public sealed class BackendStateStore(IRedisConnection redis, IEventBus eventBus, ILogger<BackendStateStore> logger)
{
    // KEYS: states, statuses, definitions, lease. ARGV: id, JSON, status, lease holder ('' = no fencing).
    // Returns 'gone' (backend deleted), 'disabled' (a probe result that raced with disabling), 'fenced' (the
    // lease is another replica's) or '=' .. previous status.
    private const string SaveScript = """
        local definition = redis.call('HGET', KEYS[3], ARGV[1])
        if not definition then return 'gone' end
        if ARGV[3] ~= 'disabled' and string.find(definition, '"enabled":false', 1, true) then return 'disabled' end
        if ARGV[4] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[4] then return 'fenced' end
        local previous = redis.call('HGET', KEYS[2], ARGV[1])
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
        return '=' .. (previous or '')
        """;

    /// <summary>The status rule: disabled unless enabled; offline unless the last probe answered; busy while
    /// ComfyUI has prompts queued or running or the dispatcher has prompts in flight; else idle.</summary>
    public static string StatusOf(bool enabled, bool answered, int queueRunning, int queuePending, int inFlight) =>
        !enabled ? BackendStatuses.Disabled
        : !answered ? BackendStatuses.Offline
        : queueRunning + queuePending > 0 || inFlight > 0 ? BackendStatuses.Busy
        : BackendStatuses.Idle;

    public async Task<BackendRuntimeState?> GetAsync(string id, CancellationToken cancellationToken)
    {
        var json = redis.HashGetAsync(BackendKeys.States, id, cancellationToken);
        var inFlight = GetInFlightAsync(id, cancellationToken);
        return await json is { } text && Deserialize(id, text) is { } state ? WithInFlight(state, await inFlight) : null;
    }

    /// <summary>Every stored state by backend id (backends never probed have none).</summary>
    public async Task<IReadOnlyDictionary<string, BackendRuntimeState>> ListAsync(CancellationToken cancellationToken)
    {
        var stored = await redis.HashGetAllAsync(BackendKeys.States, cancellationToken);
        var states = stored.Select(entry => Deserialize(entry.Key, entry.Value)).OfType<BackendRuntimeState>().ToArray();
        // One HLEN per backend, pipelined on the shared connection.
        var counts = await Task.WhenAll(states.Select(state => GetInFlightAsync(state.BackendId, cancellationToken)));
        var result = new Dictionary<string, BackendRuntimeState>(states.Length, StringComparer.Ordinal);
        for (var i = 0; i < states.Length; i++)
        {
            result[states[i].BackendId] = WithInFlight(states[i], counts[i]);
        }

        return result;
    }

    /// <summary>Prompts the dispatcher has in flight on the backend (HLEN of <see cref="BackendKeys.InFlight"/>).</summary>
    public async Task<int> GetInFlightAsync(string id, CancellationToken cancellationToken) =>
        (int)await redis.HashLengthAsync(BackendKeys.InFlight(id), cancellationToken);

    /// <summary>Saves <paramref name="state"/> unless the backend was deleted or, with
    /// <paramref name="leaseHolder"/>, unless that replica no longer holds the backend's lease (a worker that lost
    /// its lease must not overwrite what the new holder wrote). Announces a status change; false when not saved.</summary>
    public async Task<bool> SaveAsync(BackendRuntimeState state, string? leaseHolder, CancellationToken cancellationToken)
    {
        var reply = await redis.ScriptEvaluateAsync(
            SaveScript,
            [BackendKeys.States, BackendKeys.Statuses, BackendKeys.Definitions, BackendKeys.Lease(state.BackendId)],
            [state.BackendId, JsonSerializer.Serialize(state, BackendRegistry.Json), state.Status, leaseHolder ?? ""],
            cancellationToken);
        var answer = reply.AsString() ?? "";
        if (!answer.StartsWith('='))
        {
            logger.LogDebug("Did not save the state of backend {Id}: {Reason}", state.BackendId, answer);
            return false;
        }

        var previous = answer.Length > 1 ? answer[1..] : null;
        if (previous != state.Status)
        {
            logger.LogInformation("Backend {Id} is now {Status} (was {Previous}){Error}",
                state.BackendId, state.Status, previous ?? "unknown", state.LastError is null ? "" : $": {state.LastError}");
            try
            {
                await eventBus.PublishAsync(RenderChannels.BackendEvents,
                    new BackendStatusChanged(state.BackendId, state.Status, previous, state.LastError, state.UpdatedAt), cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The state is saved; subscribers re-read it when they resubscribe.
                logger.LogWarning(ex, "Saved the state of backend {Id} but could not announce its status change", state.BackendId);
            }
        }

        return true;
    }

    private static BackendRuntimeState WithInFlight(BackendRuntimeState state, int inFlight) =>
        state.Status is BackendStatuses.Idle or BackendStatuses.Busy
            ? state with { InFlightJobs = inFlight, Status = StatusOf(true, true, state.QueueRunning, state.QueuePending, inFlight) }
            : state with { InFlightJobs = inFlight };

    private BackendRuntimeState? Deserialize(string id, string json)
    {
        try
        {
            var state = JsonSerializer.Deserialize<BackendRuntimeState>(json, BackendRegistry.Json);
            if (state is not null && state.BackendId == id)
            {
                return state;
            }

            logger.LogWarning("Ignored the state stored under {Id}: it names another backend or is null", id);
        }
        catch (JsonException ex)
        {
            logger.LogWarning(ex, "Ignored the state stored under {Id}: it is not valid JSON", id);
        }

        return null;
    }
}
