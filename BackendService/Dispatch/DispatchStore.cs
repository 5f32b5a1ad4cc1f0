using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>Redis keys of dispatch that are not in <see cref="RenderChannels"/> or <see cref="BackendKeys"/>.</summary>
public static class DispatchKeys
{
    /// <summary>The <c>clientId</c> of a backend's socket, kept so that a replica taking over the backend's lease
    /// opens its socket with the same id and keeps receiving the events of prompts posted before.</summary>
    public static string ClientId(string backendId) => $"dc:backend:{backendId}:client_id";

    /// <summary>How many times posting a prompt failed because its backend could not be reached (expires after a day).</summary>
    public static string PostFailures(string promptId) => $"dc:render:post-failures:{promptId}";
}

/// <summary>A prompt posted to a backend and not ended yet: one field of <see cref="BackendKeys.InFlight"/>.
/// <paramref name="Nodes"/> (node id → class_type) lets progress be computed over the whole prompt.</summary>
public sealed record InFlightPrompt(
    string PromptId,
    string? JobId,
    DateTimeOffset PostedAt,
    IReadOnlyDictionary<string, string> Nodes)
{
    /// <summary>For a render agent's prompt handed out and not yet confirmed by the agent: the queue delivery that is
    /// acknowledged once the agent shows it has the task (a message, a heartbeat naming it, its result). Until then the
    /// queue's visibility timeout offers it again, so a hand-out whose reply was lost is not lost.</summary>
    public HandOut? Pending { get; init; }

    /// <summary>Node id → class_type of an API-format prompt.</summary>
    public static Dictionary<string, string> NodeClassesOf(JsonObject prompt)
    {
        var classes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (nodeId, node) in prompt)
        {
            if ((string?)node?["class_type"] is { } classType)
            {
                classes[nodeId] = classType;
            }
        }

        return classes;
    }
}

/// <summary>The queue delivery of a task handed out to a render agent (see <see cref="InFlightPrompt.Pending"/>).</summary>
public sealed record HandOut(string Queue, string MessageId, string LeaseToken, int DeliveryCount)
{
    [JsonIgnore]
    public QueueDeliveryInfo Delivery => new(Queue, MessageId, LeaseToken, DeliveryCount);
}

/// <summary>A prompt's state hash: the backend it was sent to, its job, its last status (null before any event) and the
/// error type of its last event (<c>backend_lost</c> when it was given up with its backend).</summary>
public sealed record PromptState(string BackendId, string? JobId, string? Status, string? ErrorType)
{
    public bool IsFinal => Status is not null && RenderEventKinds.IsFinal(Status);
}

/// <summary>Who holds a prompt according to its state hash: this backend, another one, and the last status.
/// <paramref name="CancelRequested"/>: its job was cancelled before the claim, which then claimed nothing
/// (<paramref name="Mine"/> is false).</summary>
public sealed record PromptClaim(bool Mine, string? Owner, string? Status, bool CancelRequested = false)
{
    public bool IsFinal => Status is not null && RenderEventKinds.IsFinal(Status);

    /// <summary>A backend had claimed the prompt before this claim: an earlier delivery of its command may have posted
    /// it. A first claim means no post was ever made (a prompt is posted only after its claim).</summary>
    public bool ClaimedBefore { get; init; }

    /// <summary>The backend was deleted or disabled after its worker started: nothing was claimed, and the command
    /// must fail as one for a backend that takes no new prompts.</summary>
    public bool BackendClosed { get; init; }
}

/// <summary>The Redis side of dispatch: the in-flight hash of each backend, its socket's client id, the state of each
/// prompt (claims and last event) and cancel flags. Every call goes through the Redis client, whose commands have timeouts.</summary>
public sealed class DispatchStore(IRedisConnection redis, IOptions<DispatchOptions> options)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    // KEYS: prompt state, cancel flag, and (when the backend must still take new prompts) the backend definitions and
    // the retiring backends. ARGV: backend id, job id, expiry ms. The first backend to claim a prompt owns it, so a
    // command delivered twice (to two backend queues) is never posted on two nodes. A prompt whose cancel was requested
    // is not claimed ('cancelled'), nor one for a backend deleted or disabled since its worker started ('closed'): the
    // worker learns of the change only when it is restarted, and a command it took meanwhile must not reach the node.
    private const string ClaimScript = """
        if redis.call('EXISTS', KEYS[2]) == 1 then return {'cancelled', '', '', '0'} end
        if KEYS[3] then
          local definition = redis.call('HGET', KEYS[3], ARGV[1])
          if not definition or redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 or string.find(definition, '"enabled":false', 1, true) then
            return {'closed', '', '', '0'}
          end
        end
        local owner = redis.call('HGET', KEYS[1], 'backend_id')
        local status = redis.call('HGET', KEYS[1], 'status') or ''
        if owner and owner ~= '' and owner ~= ARGV[1] then return {'other', owner, status, '1'} end
        if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'backend_id', ARGV[1], 'job_id', ARGV[2])
        else redis.call('HSET', KEYS[1], 'backend_id', ARGV[1]) end
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        if owner and owner ~= '' then return {'mine', ARGV[1], status, '1'} end
        return {'mine', ARGV[1], status, '0'}
        """;

    // KEYS: prompt state, and for a final event or a prompt now in flight the backend's in-flight hash. ARGV: status,
    // event JSON, backend id, job id, expiry ms, prompt id, the in-flight record ('' for none). A final event takes the
    // prompt out of its backend's in-flight hash even when the prompt had already ended, in the same script as its state;
    // an event with an in-flight record (a post's acceptance) puts the prompt in that hash unless it has ended. One write,
    // not two, before the event is published. The state's fields go in one HSET, and the expiry is renewed only when it
    // would move by a second or more (a prompt's events come milliseconds apart): Garnet commits its append-only file
    // for every write command a script runs.
    private const string WriteStateScript = """
        local unpack = unpack or table.unpack
        if KEYS[2] and ARGV[7] == '' then redis.call('HDEL', KEYS[2], ARGV[6]) end
        local current = redis.call('HGET', KEYS[1], 'status')
        if current == 'completed' or current == 'failed' or current == 'interrupted' then return 0 end
        if KEYS[2] and ARGV[7] ~= '' then redis.call('HSET', KEYS[2], ARGV[6], ARGV[7]) end
        local fields = {'status', ARGV[1], 'event', ARGV[2]}
        if ARGV[3] ~= '' then table.insert(fields, 'backend_id'); table.insert(fields, ARGV[3]) end
        if ARGV[4] ~= '' then table.insert(fields, 'job_id'); table.insert(fields, ARGV[4]) end
        redis.call('HSET', KEYS[1], unpack(fields))
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 or tonumber(ARGV[5]) - ttl >= 1000 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
        return 1
        """;

    // KEYS: a backend's in-flight hash. ARGV: prompt id, the record as read, the record to write. Replaces the record only
    // if it is still the one read: a prompt that ended meanwhile (its record removed) is not brought back.
    private const string ReplaceInFlightScript = """
        if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
        return 1
        """;

    /// <summary>Keeps <paramref name="renderEvent"/> (as <paramref name="eventJson"/>) as the last event of its prompt;
    /// false when the prompt had already ended, so nothing was written. A final event also removes the prompt from its
    /// backend's in-flight hash, whether or not the prompt had ended before; <paramref name="nowInFlight"/> (with a
    /// post's <c>accepted</c>) is added to that hash in the same script, unless the prompt had ended.</summary>
    public async Task<bool> RecordPromptEventAsync(
        RenderEvent renderEvent, string eventJson, CancellationToken cancellationToken, InFlightPrompt? nowInFlight = null)
    {
        var touchesInFlight = renderEvent.BackendId.Length > 0 && (nowInFlight is not null || RenderEventKinds.IsFinal(renderEvent.Kind));
        var written = await redis.ScriptEvaluateAsync(
            WriteStateScript,
            touchesInFlight
                ? [RenderChannels.PromptStateKey(renderEvent.PromptId), BackendKeys.InFlight(renderEvent.BackendId)]
                : [RenderChannels.PromptStateKey(renderEvent.PromptId)],
            [
                renderEvent.Kind,
                eventJson,
                renderEvent.BackendId,
                renderEvent.JobId ?? "",
                (long)options.Value.PromptStateExpiry.TotalMilliseconds,
                renderEvent.PromptId,
                nowInFlight is null ? "" : JsonSerializer.Serialize(nowInFlight, Json),
            ],
            cancellationToken);
        return written.AsInt64() == 1;
    }

    public async Task<string> GetOrCreateClientIdAsync(string backendId, CancellationToken cancellationToken)
    {
        var key = DispatchKeys.ClientId(backendId);
        await redis.StringSetAsync(key, Guid.NewGuid().ToString(), onlyIfNotExists: true, cancellationToken: cancellationToken);
        return await redis.StringGetAsync(key, cancellationToken)
            ?? throw new InvalidOperationException($"The client id of backend {backendId} vanished right after it was written.");
    }

    public Task AddInFlightAsync(string backendId, InFlightPrompt prompt, CancellationToken cancellationToken) =>
        redis.HashSetAsync(BackendKeys.InFlight(backendId), prompt.PromptId, JsonSerializer.Serialize(prompt, Json), cancellationToken);

    /// <summary>One prompt's in-flight record on a backend, or null when it is not in flight there.</summary>
    public async Task<InFlightPrompt?> GetInFlightAsync(string backendId, string promptId, CancellationToken cancellationToken) =>
        await redis.HashGetAsync(BackendKeys.InFlight(backendId), promptId, cancellationToken) is { } json ? Read(promptId, json) : null;

    /// <summary>Clears the hand-out of a render agent's prompt once the agent has shown it holds the task; returns the
    /// hand-out that was pending (to be acknowledged on its queue), or null when none was (already confirmed, or ended).</summary>
    public async Task<HandOut?> ConfirmHandOutAsync(string backendId, string promptId, CancellationToken cancellationToken)
    {
        var key = BackendKeys.InFlight(backendId);
        if (await redis.HashGetAsync(key, promptId, cancellationToken) is not { } json || Read(promptId, json) is not { Pending: { } pending } record)
        {
            return null;
        }

        var confirmed = JsonSerializer.Serialize(record with { Pending = null }, Json);
        var replaced = await redis.ScriptEvaluateAsync(ReplaceInFlightScript, [key], [promptId, json, confirmed], cancellationToken);
        return replaced.AsInt64() == 1 ? pending : null;
    }

    /// <summary>Who holds a prompt and how far it got (its state hash), or null when the suite knows no such prompt.</summary>
    public async Task<PromptState?> GetPromptStateAsync(string promptId, CancellationToken cancellationToken)
    {
        var fields = await redis.HashGetManyAsync(RenderChannels.PromptStateKey(promptId), ["backend_id", "job_id", "status", "event"], cancellationToken);
        if (fields[0] is not { Length: > 0 } backendId)
        {
            return null;
        }

        string? errorType = null;
        if (fields[3] is { } eventJson)
        {
            try
            {
                errorType = JsonSerializer.Deserialize<RenderEvent>(eventJson, RenderEventPublisher.EventJson)?.ErrorType;
            }
            catch (JsonException)
            {
                // The status alone still tells whether it ended.
            }
        }

        return new PromptState(backendId, fields[1], string.IsNullOrEmpty(fields[2]) ? null : fields[2], errorType);
    }

    public async Task<IReadOnlyList<InFlightPrompt>> ListInFlightAsync(string backendId, CancellationToken cancellationToken)
    {
        var fields = await redis.HashGetAllAsync(BackendKeys.InFlight(backendId), cancellationToken);
        var prompts = new List<InFlightPrompt>(fields.Count);
        foreach (var (promptId, json) in fields)
        {
            prompts.Add(Read(promptId, json) ?? new InFlightPrompt(promptId, null, DateTimeOffset.MinValue, new Dictionary<string, string>()));
        }

        return prompts;
    }

    private static InFlightPrompt? Read(string promptId, string json)
    {
        try
        {
            return JsonSerializer.Deserialize<InFlightPrompt>(json, Json);
        }
        catch (JsonException)
        {
            // Still reconciled: what the node knows about the prompt does not depend on the record.
            return new InFlightPrompt(promptId, null, DateTimeOffset.MinValue, new Dictionary<string, string>());
        }
    }

    /// <summary>Claims the prompt for <paramref name="backendId"/> unless another backend holds it or its cancel was
    /// requested (one script: the cancel check and the claim are one step).</summary>
    /// <param name="backendMustBeOpen">Claims nothing (<see cref="PromptClaim.BackendClosed"/>) when the backend has been
    /// deleted or disabled: a node's worker, which runs with the definition it started with.</param>
    public async Task<PromptClaim> ClaimAsync(
        string promptId, string backendId, string? jobId, CancellationToken cancellationToken, bool backendMustBeOpen = false)
    {
        var reply = await redis.ScriptEvaluateAsync(
            ClaimScript,
            backendMustBeOpen
                ? [RenderChannels.PromptStateKey(promptId), RenderChannels.CancelKey(promptId), BackendKeys.Definitions, BackendKeys.Retiring]
                : [RenderChannels.PromptStateKey(promptId), RenderChannels.CancelKey(promptId)],
            [backendId, jobId ?? "", (long)options.Value.PromptStateExpiry.TotalMilliseconds],
            cancellationToken);
        var items = reply.Items;
        var outcome = items[0].AsString();
        var status = items[2].AsString();
        return new PromptClaim(outcome == "mine", outcome is "cancelled" or "closed" ? null : items[1].AsString(), string.IsNullOrEmpty(status) ? null : status,
            CancelRequested: outcome == "cancelled")
        {
            ClaimedBefore = items[3].AsString() == "1",
            BackendClosed = outcome == "closed",
        };
    }

    /// <summary>True when the prompt has a final event (completed, failed, lost, interrupted): it must not run
    /// again anywhere, whatever a node's queue still holds.</summary>
    public async Task<bool> HasEndedAsync(string promptId, CancellationToken cancellationToken) =>
        await redis.HashGetAsync(RenderChannels.PromptStateKey(promptId), "status", cancellationToken) is { } status && RenderEventKinds.IsFinal(status);

    public Task<bool> IsCancelRequestedAsync(string promptId, CancellationToken cancellationToken) =>
        redis.KeyExistsAsync(RenderChannels.CancelKey(promptId), cancellationToken);

    /// <summary>Counts one failed attempt to reach the backend for this prompt; returns the count so far.</summary>
    public async Task<long> CountPostFailureAsync(string promptId, CancellationToken cancellationToken)
    {
        var key = DispatchKeys.PostFailures(promptId);
        var count = await redis.StringIncrementAsync(key, cancellationToken: cancellationToken);
        await redis.KeyExpireAsync(key, TimeSpan.FromDays(1), cancellationToken);
        return count;
    }
}
