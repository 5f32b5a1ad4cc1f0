using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Webhooks;

/// <summary>One webhook to send: the exact body (fixed when the event happened, so every retry sends the same bytes
/// under the same <see cref="Id"/>, the receiver's idempotency key) and how many attempts were made.</summary>
public sealed record WebhookDelivery(string Id, string Url, string Event, string SubjectId, string Body, DateTimeOffset CreatedAt)
{
    public int Attempts { get; init; }
}

/// <summary>
/// The webhook outbox in Redis: <c>dc:jobs:webhooks:pending</c> (hash: delivery id → <see cref="WebhookDelivery"/>)
/// and <c>dc:jobs:webhooks:due</c> (sorted set: delivery id by when it is next due, ms). A delivery is added by the
/// same script that commits the job's change (<see cref="JobStateMachine"/>), so a job never ends without its webhook
/// being queued, whatever happens to the process afterwards. Claiming pushes a delivery's due time one lease ahead, so
/// one replica sends it at a time and a replica that dies mid-send leaves it to be claimed again (at least once).
/// The Messaging durable queue is not used because its enqueue is a script of its own with ids it assigns, which
/// cannot be part of the job's change script.
/// </summary>
public sealed class WebhookOutbox(IRedisConnection redis, WebhookSigner signer, IOptions<WebhookOptions> options)
{
    public const string PendingKey = "dc:jobs:webhooks:pending";
    public const string DueKey = "dc:jobs:webhooks:due";

    /// <summary>The kinds of webhook event.</summary>
    public static class Events
    {
        public const string JobCompleted = "job_completed";
        public const string JobFailed = "job_failed";
        public const string JobTimeout = "job_timeout";
        public const string JobCancelled = "job_cancelled";
        public const string JobRejected = "job_rejected";
        public const string JobAwaitingApproval = "job_awaiting_approval";
        public const string GroupAwaitingApproval = "group_awaiting_approval";
        public const string GroupComplete = "group_complete";
    }

    // KEYS: due, pending. ARGV: now ms, lease ms, limit. Returns id, delivery, id, delivery, …
    private const string ClaimScript = """
        local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
        local claimed = {}
        for _, id in ipairs(ids) do
          local delivery = redis.call('HGET', KEYS[2], id)
          if delivery then
            redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
            claimed[#claimed + 1] = id
            claimed[#claimed + 1] = delivery
          else
            redis.call('ZREM', KEYS[1], id)
          end
        end
        return claimed
        """;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Queues, in <paramref name="commit"/>, the webhook a change of a single job calls for: its end or its
    /// wait for approval; nothing for other changes, a group's child or a job without a webhook URL.</summary>
    public void AddJobEvent(JobCommit commit, JobRecord before, JobRecord after, DateTimeOffset now)
    {
        if (after.WebhookUrl is not { } url || before.Status == after.Status)
        {
            return;
        }

        var @event = after.Status switch
        {
            // A group child's wait and end are told once for the whole group, by group_awaiting_approval and group_complete.
            _ when after.GroupId is not null => null,
            JobStatuses.AwaitingApproval => Events.JobAwaitingApproval,
            JobStatuses.Completed => Events.JobCompleted,
            JobStatuses.Failed => Events.JobFailed,
            JobStatuses.Timeout => Events.JobTimeout,
            JobStatuses.Cancelled => Events.JobCancelled,
            JobStatuses.Rejected => Events.JobRejected,
            _ => null,
        };
        if (@event is null)
        {
            return;
        }

        var id = Guid.NewGuid().ToString();
        var body = new JsonObject
        {
            ["event"] = @event,
            ["delivery_id"] = id,
            ["job_id"] = after.JobId,
            ["job_group_id"] = after.GroupId,
            ["status"] = after.Status,
            ["timestamp"] = JobEvents.Iso(now),
            ["backend_id"] = after.BackendId,
            ["outputs"] = after.Status is JobStatuses.Completed or JobStatuses.AwaitingApproval ? after.Outputs?.DeepClone() : null,
            ["error"] = after.ErrorMessage,
            ["error_type"] = after.ErrorType,
            ["metadata"] = after.Metadata.DeepClone(),
        };
        if (after.Status == JobStatuses.AwaitingApproval)
        {
            body["approval"] = ApprovalLink(after.JobId);
        }

        Add(commit, new WebhookDelivery(id, url, @event, after.JobId, body.ToJsonString(), now));
    }

    /// <summary>Queues, in <paramref name="commit"/>, the group's <c>group_complete</c> webhook when it has a URL.</summary>
    public void AddGroupComplete(JobCommit commit, JobGroupRecord group, JsonObject outcome, DateTimeOffset now)
    {
        if (group.WebhookUrl is not { } url)
        {
            return;
        }

        var id = Guid.NewGuid().ToString();
        var body = new JsonObject
        {
            ["event"] = Events.GroupComplete,
            ["delivery_id"] = id,
            ["job_group_id"] = group.JobGroupId,
            ["status"] = group.Status,
            ["timestamp"] = JobEvents.Iso(now),
            ["metadata"] = group.Metadata.DeepClone(),
        };
        foreach (var (name, value) in outcome)
        {
            body[name] ??= value?.DeepClone();
        }

        Add(commit, new WebhookDelivery(id, url, Events.GroupComplete, group.JobGroupId, body.ToJsonString(), now));
    }

    /// <summary>Queues, in <paramref name="commit"/>, the group's <c>group_awaiting_approval</c> webhook when it has a
    /// URL: the signed link that decides the whole group, and each child with its state and, while it waits, its own link.</summary>
    public void AddGroupAwaitingApproval(JobCommit commit, JobGroupRecord group, IReadOnlyList<JobRecord> children, DateTimeOffset now)
    {
        if (group.WebhookUrl is not { } url)
        {
            return;
        }

        var id = Guid.NewGuid().ToString();
        var body = new JsonObject
        {
            ["event"] = Events.GroupAwaitingApproval,
            ["delivery_id"] = id,
            ["job_group_id"] = group.JobGroupId,
            ["status"] = group.Status,
            ["timestamp"] = JobEvents.Iso(now),
            ["metadata"] = group.Metadata.DeepClone(),
            ["approval"] = ApprovalLink(group.JobGroupId),
            ["children"] = new JsonArray(children.Select(c => (JsonNode)new JsonObject
            {
                ["job_id"] = c.JobId,
                ["status"] = c.Status,
                ["backend_id"] = c.BackendId,
                ["seed"] = c.Seed,
                ["outputs"] = c.Status == JobStatuses.AwaitingApproval ? c.Outputs?.DeepClone() : null,
                ["error"] = c.ErrorMessage,
                ["error_type"] = c.ErrorType,
                ["approval"] = c.Status == JobStatuses.AwaitingApproval ? ApprovalLink(c.JobId) : null,
            }).ToArray()),
        };
        Add(commit, new WebhookDelivery(id, url, Events.GroupAwaitingApproval, group.JobGroupId, body.ToJsonString(), now));
    }

    /// <summary>The approval link of a job or group awaiting approval: the path (absolute when the public base URL is set)
    /// with its signature as a query parameter, and the signature alone for receivers that build their own call.</summary>
    public JsonObject ApprovalLink(string jobOrGroupId)
    {
        var signature = signer.SignApproval(jobOrGroupId);
        var path = $"/_public/webhooks/approval/{Uri.EscapeDataString(jobOrGroupId)}?signature={signature}";
        var url = options.Value.PublicBaseUrl is { } baseUrl ? new Uri(baseUrl, path).ToString() : path;
        return new JsonObject { ["url"] = url, ["signature"] = signature, ["decisions"] = new JsonArray("approved", "rejected") };
    }

    /// <summary>Takes up to <paramref name="limit"/> due deliveries for <paramref name="lease"/>.</summary>
    public async Task<IReadOnlyList<WebhookDelivery>> ClaimAsync(DateTimeOffset now, TimeSpan lease, int limit, CancellationToken cancellationToken)
    {
        var reply = await redis.ScriptEvaluateAsync(ClaimScript, [DueKey, PendingKey],
            [now.ToUnixTimeMilliseconds(), (long)lease.TotalMilliseconds, limit], cancellationToken);
        var items = reply.Items;
        var claimed = new List<WebhookDelivery>(items.Count / 2);
        for (var i = 0; i + 1 < items.Count; i += 2)
        {
            claimed.Add(JsonSerializer.Deserialize<WebhookDelivery>(items[i + 1].AsString()!, Json)!);
        }

        return claimed;
    }

    /// <summary>Removes a delivery that was delivered or given up, with its history entry in the same script.</summary>
    public JobCommit Finish(WebhookDelivery delivery) =>
        new JobCommit().Op("HDEL", PendingKey, delivery.Id).Op("ZREM", DueKey, delivery.Id);

    /// <summary>Puts a delivery back, with its attempt count, to be tried at <paramref name="dueAt"/>.</summary>
    public JobCommit Retry(WebhookDelivery delivery, DateTimeOffset dueAt) =>
        new JobCommit().Op("HSET", PendingKey, delivery.Id, JsonSerializer.Serialize(delivery, Json))
            .Op("ZADD", DueKey, dueAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture), delivery.Id);

    private static void Add(JobCommit commit, WebhookDelivery delivery)
    {
        commit.Op("HSET", PendingKey, delivery.Id, JsonSerializer.Serialize(delivery, Json));
        commit.Op("ZADD", DueKey, delivery.CreatedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture), delivery.Id);
    }
}
