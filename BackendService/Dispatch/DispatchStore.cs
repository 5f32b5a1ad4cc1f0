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

/// <summary>One event for <see cref="DispatchStore.RecordPromptEventsAsync"/>: the event, its JSON, and the in-flight record
/// it puts in its backend's hash (a post's <c>accepted</c>), if any.</summary>
public sealed record PromptEventRecord(RenderEvent Event, string EventJson, InFlightPrompt? NowInFlight = null);

/// <summary>The Redis side of dispatch: the in-flight hash of each backend, its socket's client id, the state of each
/// prompt (claims and last event) and cancel flags. Every call goes through the Redis client, whose commands have timeouts.</summary>
public sealed class DispatchStore(IRedisConnection redis, IOptions<DispatchOptions> options)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    // KEYS: the backend definitions and the retiring backends, then per prompt its state and its cancel flag. ARGV: backend
    // id, expiry ms, '1' when the backend must still take new prompts, then per prompt its job id. Replies with four
    // values per prompt: outcome, owner, last status, '1' when a backend had claimed it before. The first backend to claim
    // a prompt owns it, so a command delivered twice (to two backend queues) is never posted on two nodes. A prompt whose
    // cancel was requested is not claimed ('cancelled'), nor any for a backend deleted or disabled since its worker
    // started ('closed'): the worker learns of the change only when it is restarted, and a command it took meanwhile must
    // not reach the node.
    private const string ClaimScript = """
        local replies = {}
        local closed = false
        if ARGV[3] == '1' then
          local definition = redis.call('HGET', KEYS[1], ARGV[1])
          closed = not definition or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 or string.find(definition, '"enabled":false', 1, true) ~= nil
        end
        for i = 1, (#KEYS - 2) / 2 do
          local state, cancel, job = KEYS[1 + i * 2], KEYS[2 + i * 2], ARGV[3 + i]
          local reply
          if redis.call('EXISTS', cancel) == 1 then reply = {'cancelled', '', '', '0'}
          elseif closed then reply = {'closed', '', '', '0'}
          else
            local owner = redis.call('HGET', state, 'backend_id')
            local status = redis.call('HGET', state, 'status') or ''
            if owner and owner ~= '' and owner ~= ARGV[1] then reply = {'other', owner, status, '1'}
            else
              if job ~= '' then redis.call('HSET', state, 'backend_id', ARGV[1], 'job_id', job)
              else redis.call('HSET', state, 'backend_id', ARGV[1]) end
              redis.call('PEXPIRE', state, ARGV[2])
              reply = {'mine', ARGV[1], status, (owner and owner ~= '') and '1' or '0'}
            end
          end
          for _, value in ipairs(reply) do table.insert(replies, value) end
        end
        return replies
        """;

    // KEYS: per event the prompt's state and its backend's in-flight hash. ARGV: expiry ms, then per event its status,
    // JSON, backend id, job id, prompt id, in-flight record ('' for none) and '1' when it touches the in-flight hash (a
    // final event, or one with a record). Replies with 1 per event written, 0 per event of a prompt that had already
    // ended. A final event takes the prompt out of its backend's in-flight hash even when the prompt had already ended,
    // in the same script as its state; an event with an in-flight record (a post's acceptance) puts the prompt in that
    // hash unless it has ended. One write, not two, before the event is published. The state's fields go in one HSET, and
    // the expiry is renewed only when it would move by a second or more (a prompt's events come milliseconds apart):
    // Garnet commits its append-only file for every write command a script runs.
    private const string WriteStateScript = """
        local unpack = unpack or table.unpack
        local written = {}
        for i = 1, #KEYS / 2 do
          local state, inflight, a = KEYS[i * 2 - 1], KEYS[i * 2], 1 + (i - 1) * 7
          local status, event, backend, job, prompt, record, touch = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7] == '1'
          if touch and record == '' then redis.call('HDEL', inflight, prompt) end
          local current = redis.call('HGET', state, 'status')
          if current == 'completed' or current == 'failed' or current == 'interrupted' then
            written[i] = 0
          else
            if touch and record ~= '' then redis.call('HSET', inflight, prompt, record) end
            local fields = {'status', status, 'event', event}
            if backend ~= '' then table.insert(fields, 'backend_id'); table.insert(fields, backend) end
            if job ~= '' then table.insert(fields, 'job_id'); table.insert(fields, job) end
            redis.call('HSET', state, unpack(fields))
            local ttl = redis.call('PTTL', state)
            if ttl < 0 or tonumber(ARGV[1]) - ttl >= 1000 then redis.call('PEXPIRE', state, ARGV[1]) end
            written[i] = 1
          end
        end
        return written
        """;

    // KEYS: a backend's in-flight hash. ARGV: prompt id, the record as read, the record to write. Replaces the record only
    // if it is still the one read: a prompt that ended meanwhile (its record removed) is not brought back.
    private const string ReplaceInFlightScript = """
        if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
        return 1
        """;

    /// <summary>Records one event as <see cref="RecordPromptEventsAsync"/> does; false when its prompt had already ended.</summary>
    public async Task<bool> RecordPromptEventAsync(
        RenderEvent renderEvent, string eventJson, CancellationToken cancellationToken, InFlightPrompt? nowInFlight = null) =>
        (await RecordPromptEventsAsync([new PromptEventRecord(renderEvent, eventJson, nowInFlight)], cancellationToken))[0];

    /// <summary>Keeps each event (with its JSON) as the last event of its prompt, in order and with one script; true for
    /// each one written, false for one whose prompt had already ended, so nothing was written. A final event also removes
    /// its prompt from its backend's in-flight hash, whether or not the prompt had ended before; an event's
    /// <see cref="PromptEventRecord.NowInFlight"/> (with a post's <c>accepted</c>) is added to that hash in the same
    /// script, unless the prompt had ended.</summary>
    public async Task<IReadOnlyList<bool>> RecordPromptEventsAsync(IReadOnlyList<PromptEventRecord> events, CancellationToken cancellationToken)
    {
        var keys = new List<string>(events.Count * 2);
        var args = new List<RedisArg>(1 + events.Count * 7) { (long)options.Value.PromptStateExpiry.TotalMilliseconds };
        foreach (var (renderEvent, eventJson, nowInFlight) in events)
        {
            var touchesInFlight = renderEvent.BackendId.Length > 0 && (nowInFlight is not null || RenderEventKinds.IsFinal(renderEvent.Kind));
            keys.Add(RenderChannels.PromptStateKey(renderEvent.PromptId));
            keys.Add(BackendKeys.InFlight(renderEvent.BackendId));
            args.AddRange(
            [
                renderEvent.Kind,
                eventJson,
                renderEvent.BackendId,
                renderEvent.JobId ?? "",
                renderEvent.PromptId,
                nowInFlight is null ? "" : JsonSerializer.Serialize(nowInFlight, Json),
                touchesInFlight ? "1" : "0",
            ]);
        }

        var written = await redis.ScriptEvaluateAsync(WriteStateScript, keys, args, cancellationToken);
        return written.Items.Select(item => item.AsInt64() == 1).ToList();
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

    /// <summary>Claims one prompt as <see cref="ClaimAsync(IReadOnlyList{ValueTuple{string, string}}, string, CancellationToken, bool)"/> does.</summary>
    public async Task<PromptClaim> ClaimAsync(
        string promptId, string backendId, string? jobId, CancellationToken cancellationToken, bool backendMustBeOpen = false) =>
        (await ClaimAsync([(promptId, jobId)], backendId, cancellationToken, backendMustBeOpen))[0];

    /// <summary>Claims each prompt (id and job id) for <paramref name="backendId"/> unless another backend holds it or its
    /// cancel was requested, with one script (the cancel check and the claim are one step); the claims in the order of
    /// <paramref name="prompts"/>.</summary>
    /// <param name="backendMustBeOpen">Claims nothing (<see cref="PromptClaim.BackendClosed"/>) when the backend has been
    /// deleted or disabled: a node's worker, which runs with the definition it started with.</param>
    public async Task<IReadOnlyList<PromptClaim>> ClaimAsync(
        IReadOnlyList<(string PromptId, string? JobId)> prompts, string backendId, CancellationToken cancellationToken, bool backendMustBeOpen = false)
    {
        var keys = new List<string>(2 + prompts.Count * 2) { BackendKeys.Definitions, BackendKeys.Retiring };
        var args = new List<RedisArg>(3 + prompts.Count) { backendId, (long)options.Value.PromptStateExpiry.TotalMilliseconds, backendMustBeOpen ? "1" : "0" };
        foreach (var (promptId, jobId) in prompts)
        {
            keys.Add(RenderChannels.PromptStateKey(promptId));
            keys.Add(RenderChannels.CancelKey(promptId));
            args.Add(jobId ?? "");
        }

        var items = (await redis.ScriptEvaluateAsync(ClaimScript, keys, args, cancellationToken)).Items;
        var claims = new List<PromptClaim>(prompts.Count);
        for (var i = 0; i + 3 < items.Count; i += 4)
        {
            var outcome = items[i].AsString();
            var status = items[i + 2].AsString();
            claims.Add(new PromptClaim(outcome == "mine", outcome is "cancelled" or "closed" ? null : items[i + 1].AsString(), string.IsNullOrEmpty(status) ? null : status,
                CancelRequested: outcome == "cancelled")
            {
                ClaimedBefore = items[i + 3].AsString() == "1",
                BackendClosed = outcome == "closed",
            });
        }

        return claims;
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
