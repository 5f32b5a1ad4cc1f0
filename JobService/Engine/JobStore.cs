using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.JobService.Engine;

/// <summary>How a <see cref="JobCommit"/> ended.</summary>
public enum CommitStatus
{
    Committed,

    /// <summary>The job or group changed since it was read (another replica, or a cancel); read it and decide again.</summary>
    Conflict,

    /// <summary>The script refused the transition (a final job, progress going backwards, a cancelled group
    /// being reopened, <c>group_complete</c> twice).</summary>
    Refused,

    /// <summary>The backend has no free slot.</summary>
    SlotFull,
}

/// <summary>The outcome of a commit.</summary>
public sealed record CommitResult(CommitStatus Status);

/// <summary>
/// One atomic change of Redis state: at most one job hash and one group hash, each guarded by its version, plus the
/// index, queue, slot and stream commands that go with it, all applied by <see cref="JobStore.ChangeScript"/> or not at all.
/// Each commit carries a token of its own, written into the hashes it changes, so that the script recognises the same
/// commit sent again after its reply was lost and answers it as it answered the first time, without applying it twice.
/// </summary>
public sealed class JobCommit
{
    private readonly List<string> _keys = ["", ""];
    private readonly List<RedisArg> _ops = [];
    private readonly List<JobStreamId> _streams = [];

    public string JobVersion { get; private set; } = "skip";
    public string JobStatus { get; private set; } = "";
    public string JobRecordJson { get; private set; } = "";
    public string JobEngineJson { get; private set; } = "";
    public string JobProgress { get; private set; } = "0";
    public string JobPromptId { get; private set; } = "";
    public string GroupVersion { get; private set; } = "";
    public string GroupStatus { get; private set; } = "";
    public string GroupRecordJson { get; private set; } = "";
    public bool GroupCompletes { get; private set; }
    public string SlotKeyIndex { get; private set; } = "";
    public int SlotLimit { get; private set; }

    /// <summary>Identifies this commit among every change ever made to its job or group.</summary>
    public string Token { get; } = Guid.NewGuid().ToString("N");

    /// <summary>The commits before it in the same script (their places, from 0) that this one was decided after, on the
    /// versions they leave: it is committed only when each of them was (<see cref="JobStore.CommitManyAsync"/>). Without
    /// that, a commit whose predecessor failed could still pass when another replica's change happened to move the
    /// version it expects by one, though it was decided on what its predecessor would have written.</summary>
    public IReadOnlyList<int> After { get; set; } = [];

    public IReadOnlyList<string> Keys => _keys.Select(k => k.Length == 0 ? _keys.First(x => x.Length > 0) : k).ToList();

    public IReadOnlyList<RedisArg> Ops => _ops;

    /// <summary>The streams appended to, in the order of their RPUSH commands.</summary>
    public IReadOnlyList<JobStreamId> Streams => _streams;

    /// <summary>Writes the job; <paramref name="expectedVersion"/> null creates it (it must not exist). A record stored
    /// before prompts were kept apart has its prompt moved to where they are kept now (<see cref="StorePrompt"/>).</summary>
    public JobCommit WriteJob(JobRecord record, JobEngineState state, long? expectedVersion)
    {
        _keys[0] = JobKeys.Job(record.JobId);
        if (record.EmbeddedPrompt is { } embedded)
        {
            // The record's own copy goes with this write; a sibling may have moved the group's already (HSETNX).
            Op("HSETNX", JobKeys.PromptHolder(record), "prompt", JsonSerializer.Serialize(new JobPrompt(embedded, record.EmbeddedWorkflow), JobJson.Options));
            record = record with { EmbeddedPrompt = null, EmbeddedWorkflow = null };
        }

        JobVersion = expectedVersion?.ToString(CultureInfo.InvariantCulture) ?? "new";
        JobStatus = record.Status;
        JobRecordJson = JsonSerializer.Serialize(record, JobJson.Options);
        JobEngineJson = JsonSerializer.Serialize(state, JobJson.Options);
        JobProgress = record.Progress.ToString("R", CultureInfo.InvariantCulture);
        JobPromptId = record.PromptId ?? "";
        return this;
    }

    /// <summary>Writes the group; <paramref name="expectedVersion"/> null creates it. <paramref name="completes"/>: this
    /// change appends <c>group_complete</c>, which the script allows once.</summary>
    public JobCommit WriteGroup(JobGroupRecord record, long? expectedVersion, bool completes)
    {
        _keys[1] = JobKeys.Group(record.JobGroupId);
        GroupVersion = expectedVersion?.ToString(CultureInfo.InvariantCulture) ?? "new";
        GroupStatus = record.Status;
        GroupRecordJson = JsonSerializer.Serialize(record, JobJson.Options);
        GroupCompletes = completes;
        return this;
    }

    /// <summary>Refuses the whole change when the set already has <paramref name="limit"/> members.</summary>
    private JobCommit RequireFreeSlot(string assignedKey, int limit)
    {
        SlotKeyIndex = KeyIndex(assignedKey).ToString(CultureInfo.InvariantCulture);
        SlotLimit = limit;
        return this;
    }

    /// <summary>A raw command of the commit: for the stores whose state rides in a job change (the typed moves below,
    /// <see cref="Webhooks.WebhookOutbox"/>) and tests; service code uses the typed moves (an architecture test holds this).</summary>
    public JobCommit Op(string command, string key, params RedisArg[] args)
    {
        _ops.Add(command);
        _ops.Add(KeyIndex(key));
        _ops.Add(args.Length);
        _ops.AddRange(args);
        return this;
    }

    // The index, queue, slot and bookkeeping moves of a change: the state machine says what changed, these say which
    // keys (JobKeys) that touches. Their ops run in the order they are added, before the hashes (see the script).

    /// <summary>Keeps the prompt of a new single job in its hash, or that of a new group's children, once, in the group's
    /// hash (<paramref name="record"/> is the job or any child).</summary>
    public JobCommit StorePrompt(JobRecord record, JobPrompt prompt) =>
        Op("HSET", JobKeys.PromptHolder(record), "prompt", JsonSerializer.Serialize(prompt, JobJson.Options));

    /// <summary>A job created by this commit: in the index of every job, its status's index and its queue.</summary>
    public JobCommit IndexNewJob(JobRecord record, JobEngineState state)
    {
        var submitted = record.SubmittedAt.ToUnixTimeMilliseconds();
        Op("ZADD", JobKeys.JobIndex, submitted, record.JobId);
        Op("ZADD", JobKeys.JobStatusIndex(record.Status), submitted, record.JobId);
        return Enqueue(JobQueue.Of(record, state), state.QueueScore, record.JobId);
    }

    /// <summary>A group's child created with the group's commit (which writes the group hash, so the child's hash is
    /// an op: a child is only ever created with its group) and indexed like <see cref="IndexNewJob"/>.</summary>
    public JobCommit CreateChild(JobRecord record, JobEngineState state)
    {
        Op("HSET", JobKeys.Job(record.JobId),
            "record", JsonSerializer.Serialize(record, JobJson.Options), "engine", JsonSerializer.Serialize(state, JobJson.Options),
            "status", record.Status, "progress", record.Progress.ToString("R", CultureInfo.InvariantCulture), "prompt_id", "", "version", "1");
        return IndexNewJob(record, state);
    }

    /// <summary>A group created by this commit: in the index of every group.</summary>
    public JobCommit IndexNewGroup(JobGroupRecord group) =>
        Op("ZADD", JobKeys.GroupIndex, group.CreatedAt.ToUnixTimeMilliseconds(), group.JobGroupId);

    /// <summary>The job leaves the index of <paramref name="from"/> for that of <paramref name="to"/> (scored by its submit time).</summary>
    public JobCommit MoveStatus(string jobId, string from, string to, DateTimeOffset submittedAt) =>
        Op("ZREM", JobKeys.JobStatusIndex(from), jobId)
            .Op("ZADD", JobKeys.JobStatusIndex(to), submittedAt.ToUnixTimeMilliseconds(), jobId);

    /// <summary>The job leaves queue <paramref name="from"/> and joins <paramref name="to"/> at <paramref name="score"/>
    /// (null: none).</summary>
    public JobCommit MoveQueue(string jobId, JobQueue? from, JobQueue? to, double score)
    {
        if (from is not null)
        {
            Op("ZREM", JobKeys.Queue(from), jobId);
        }

        return to is null ? this : Enqueue(to, score, jobId);
    }

    /// <summary>The job gives up the slot it held on <paramref name="from"/> and takes one on <paramref name="to"/>
    /// (null: none); with <paramref name="limit"/>, the whole commit is refused when <paramref name="to"/> is full.</summary>
    public JobCommit MoveSlot(string jobId, string? from, string? to, int? limit)
    {
        if (from is not null)
        {
            Op("SREM", JobKeys.Assigned(from), jobId);
        }

        if (to is not null)
        {
            if (limit is { } max)
            {
                RequireFreeSlot(JobKeys.Assigned(to), max);
            }

            Op("SADD", JobKeys.Assigned(to), jobId);
        }

        return this;
    }

    /// <summary>The job's dispatch is recorded and not yet confirmed as enqueued, since <paramref name="at"/>.</summary>
    public JobCommit MarkDispatching(string jobId, DateTimeOffset at) =>
        Op("ZADD", JobKeys.Dispatching, at.ToUnixTimeMilliseconds(), jobId);

    /// <summary>The job's dispatch is no longer pending (confirmed, or the job ended or left its backend).</summary>
    public JobCommit MarkDispatched(string jobId) => Op("ZREM", JobKeys.Dispatching, jobId);

    /// <summary>The job ended at <paramref name="endedAt"/>: a single job (<paramref name="single"/>) waits for the
    /// retention cleanup; every job counts in the dashboard's recent ends, trimmed to those after <paramref name="keepSince"/>.</summary>
    public JobCommit MarkEnded(string jobId, bool single, DateTimeOffset endedAt, DateTimeOffset keepSince)
    {
        if (single)
        {
            Op("ZADD", JobKeys.FinishedJobs, endedAt.ToUnixTimeMilliseconds(), jobId);
        }

        return Op("ZADD", JobKeys.RecentlyEnded, endedAt.ToUnixTimeMilliseconds(), jobId)
            .Op("ZREMRANGEBYSCORE", JobKeys.RecentlyEnded, "-inf", keepSince.ToUnixTimeMilliseconds());
    }

    /// <summary>The group is being cancelled until its <c>group_complete</c> (<see cref="JobStore.CancellingGroupsAsync"/>).</summary>
    public JobCommit MarkGroupCancelling(string groupId) => Op("SADD", JobKeys.CancellingGroups, groupId);

    /// <summary>The group ended at <paramref name="endedAt"/>: it waits for the retention cleanup and is no longer being cancelled.</summary>
    public JobCommit MarkGroupEnded(string groupId, DateTimeOffset endedAt) =>
        Op("ZADD", JobKeys.FinishedGroups, endedAt.ToUnixTimeMilliseconds(), groupId)
            .Op("SREM", JobKeys.CancellingGroups, groupId);

    /// <summary>Pushes an entry (JSON) on a job's or group's history, newest first, trimmed to
    /// <paramref name="maxEntries"/>, its expiry renewed to <paramref name="retention"/> (the script leaves out a trim
    /// with nothing to cut and a renewal that would move the expiry by less than a second).</summary>
    public JobCommit PushHistory(string jobOrGroupId, string entryJson, int maxEntries, TimeSpan retention)
    {
        var key = JobKeys.History(jobOrGroupId);
        // LPUSH (newest first) so LTRIM keeps the newest entries.
        return Op("LPUSH", key, entryJson)
            .Op("LTRIM", key, 0, maxEntries - 1)
            .Op("PEXPIRE", key, ((long)retention.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
    }

    private JobCommit Enqueue(JobQueue queue, double score, string jobId)
    {
        Op("ZADD", JobKeys.Queue(queue), score, jobId);
        return queue.BackendId is { } backendId ? Op("SADD", JobKeys.QueuedBackends, backendId) : this;
    }

    /// <summary>Appends an event to a stream; <paramref name="payload"/> is copied with <c>type</c> first.</summary>
    public JobCommit Append(JobStreamId stream, string type, JsonObject payload, DateTimeOffset at)
    {
        var message = new JsonObject { ["type"] = type };
        foreach (var (name, value) in payload)
        {
            message[name] = value?.DeepClone();
        }

        var stored = new JsonObject { ["type"] = type, ["at"] = JobEvents.Iso(at), ["payload"] = message };
        _streams.Add(stream);
        return Op("RPUSH", JobKeys.Stream(stream), stored.ToJsonString());
    }

    private int KeyIndex(string key)
    {
        var index = _keys.IndexOf(key, 2);
        if (index < 0)
        {
            _keys.Add(key);
            index = _keys.Count - 1;
        }

        return index + 1;
    }
}

/// <summary>
/// Jobs, groups and their event streams in Redis (layout in <see cref="JobKeys"/>, which only this file and the other
/// stores name: callers ask a question, such as <see cref="CountJobsAsync"/>, or add a typed move to a
/// <see cref="JobCommit"/>). Nothing that matters is kept in
/// memory, so every replica serves every request. Each change is one Lua script (<see cref="ChangeScript"/>) that
/// checks the versions it was decided on and the transition rules, writes the records, moves the indexes and appends
/// the stream events with their next sequence numbers together; a notification per stream follows.
/// </summary>
public sealed class JobStore(IRedisConnection redis, ILogger<JobStore> logger)
{
    // Applies one or more changes: each checked and written on its own, as if by a script of its own ('each'), all of
    // them or none ('all': every check first, then every write), or, for creations ('create'), each checked on its own
    // and the ZADD and SADD ops of those that pass merged into one command per key, written before the rest of them.
    // With Garnet's append-only file committed per write command (--aof-commit-freq 0), each command a script runs costs
    // the server a commit, so a batch of creations pays one for each index and queue, not one per job for each.
    // ARGV[1] = 'each', 'all' or 'create', ARGV[2] = n changes, ARGV[3..2n+2] = the key count and argument count of each; then the
    // keys of each change, in order, in KEYS, and the arguments of each, in order, in ARGV. Per change:
    // keys: 1 job hash, 2 group hash (either may be a placeholder when not written), 3.. keys of the ops.
    // args: 1 expected job version ('skip' = no job write, 'new' = create), 2 job status, 3 job record, 4 engine state,
    //       5 progress, 6 prompt id, 7 expected group version ('' = no group write, 'new' = create), 8 group status,
    //       9 group record, 10 '1' when group_complete is appended, 11 index of a slot set that must not be full ('' = none),
    //       12 slot limit, 13 the commit's token, 14 the changes before it in this script (their numbers from 1, separated
    //       by spaces; '' = none) it was decided after: with 'each', it is a conflict unless every one of them was
    //       committed, 15.. ops: command, key index, argument count, arguments.
    // Final job states are final; progress of a running attempt never goes backwards; a queued job has no progress;
    // a cancelled group stays cancelled; group_complete is appended once. Replies: one per change, in order ('all' gives
    // every change the batch's reply: 'ok', or the first refusal).
    // A hash written gets the commit's token as 'commit' (and, when created, as 'creation', which stays). The same
    // commit sent again after its reply was lost finds its own token where it expected the version it was decided on:
    // it answers 'ok' again and writes nothing, so neither a job nor a queue entry, event or history entry is doubled.
    // That is what makes the script safe to send again (OnLostReply.Resend). A creation stays recognisable after later
    // changes; a change only until the next one (which had to read the changed hash first, so the change was seen).
    public const string ChangeScript = """
        local unpack = unpack or table.unpack
        local final = {completed = true, failed = true, cancelled = true, timeout = true, rejected = true}
        local function resent(key, expected, token)
          if expected == 'new' then return redis.call('HGET', key, 'creation') == token end
          local cur = redis.call('HMGET', key, 'version', 'commit')
          return cur[1] == tostring(tonumber(expected) + 1) and cur[2] == token
        end
        -- 'pass' (may be written), 'resent' (this very change was written before) or why it may not be.
        local function check(K, A)
          if A[1] ~= 'skip' then
            local cur = redis.call('HMGET', K[1], 'version', 'status', 'progress', 'prompt_id')
            if A[1] == 'new' then
              if cur[1] then
                if resent(K[1], A[1], A[13]) then return 'resent' end
                return 'conflict'
              end
            else
              if cur[1] ~= A[1] then
                if resent(K[1], A[1], A[13]) then return 'resent' end
                return 'conflict'
              end
              if final[cur[2]] then return 'refused' end
              if A[2] == 'running' and cur[2] == 'running' and cur[4] == A[6]
                and tonumber(A[5]) < tonumber(cur[3] or '0') then return 'refused' end
            end
            if A[2] == 'queued' and tonumber(A[5]) > 0 then return 'refused' end
          end
          if A[7] ~= '' then
            local g = redis.call('HMGET', K[2], 'version', 'status', 'completed')
            if A[7] == 'new' then
              if g[1] then
                if resent(K[2], A[7], A[13]) then return 'resent' end
                return 'conflict'
              end
            else
              if g[1] ~= A[7] then
                if resent(K[2], A[7], A[13]) then return 'resent' end
                return 'conflict'
              end
              if g[2] == 'cancelled' and A[8] ~= 'cancelled' then return 'refused' end
              if A[10] == '1' and g[3] == '1' then return 'refused' end
            end
          end
          if A[11] ~= '' and redis.call('SCARD', K[tonumber(A[11])]) >= tonumber(A[12]) then return 'full' end
          return 'pass'
        end
        -- The length a list was left at by the push just before, while no other op has touched it since.
        local pushed = {}
        local function run(command, key, args)
          if command == 'LTRIM' and pushed[key] and tonumber(args[1]) == 0 and pushed[key] <= tonumber(args[2]) + 1 then
            return -- nothing to trim: the push just before left the list within its bound
          end
          -- A list the push just before created (one entry) has no expiry yet: nothing to compare with.
          if command == 'PEXPIRE' and #args == 1 and pushed[key] ~= 1 then
            local ttl = redis.call('PTTL', key)
            if ttl >= 0 and math.abs(tonumber(args[1]) - ttl) < 1000 then
              return -- the expiry would move by less than a second (a job's events come close together)
            end
          end
          if command == 'ZREMRANGEBYSCORE' and args[1] == '-inf' then
            local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
            if #first == 0 or tonumber(first[2]) > tonumber(args[2]) then
              return -- nothing old enough to cut (the dashboard's recent ends: every job end trims them)
            end
          end
          local reply = redis.call(command, key, unpack(args))
          if command == 'LPUSH' or command == 'RPUSH' then pushed[key] = reply else pushed[key] = nil end
        end
        local function eachOp(K, A, f)
          local i = 15
          while i <= #A do
            local count = tonumber(A[i + 2])
            local args = {}
            for a = 1, count do args[a] = A[i + 2 + a] end
            f(A[i], K[tonumber(A[i + 1])], args)
            i = i + 3 + count
          end
        end
        local function writeOps(K, A) eachOp(K, A, run) end
        -- The ops a batch of creations merges into one command per key: ZADD score member, and SADD.
        local function mergeable(command, args) return (command == 'ZADD' and #args == 2) or command == 'SADD' end
        local function writeHashes(K, A)
          if A[1] ~= 'skip' then
            local version = 1
            if A[1] ~= 'new' then version = tonumber(A[1]) + 1 end
            local fields = {'record', A[3], 'engine', A[4], 'status', A[2], 'progress', A[5],
              'prompt_id', A[6], 'version', tostring(version), 'commit', A[13]}
            if A[1] == 'new' then table.insert(fields, 'creation'); table.insert(fields, A[13]) end
            redis.call('HSET', K[1], unpack(fields))
          end
          if A[7] ~= '' then
            local version = 1
            if A[7] ~= 'new' then version = tonumber(A[7]) + 1 end
            local completed = A[10]
            if completed ~= '1' then completed = redis.call('HGET', K[2], 'completed') or '0' end
            local fields = {'record', A[9], 'status', A[8], 'version', tostring(version), 'completed', completed, 'commit', A[13]}
            if A[7] == 'new' then table.insert(fields, 'creation'); table.insert(fields, A[13]) end
            redis.call('HSET', K[2], unpack(fields))
          end
        end
        local n = tonumber(ARGV[2])
        local Ks, As = {}, {}
        local k = 0
        local a = 2 + 2 * n
        for c = 1, n do
          local keyCount = tonumber(ARGV[1 + 2 * c])
          local argCount = tonumber(ARGV[2 + 2 * c])
          local K = {}
          for x = 1, keyCount do K[x] = KEYS[k + x] end
          local A = {}
          for x = 1, argCount do A[x] = ARGV[a + x] end
          Ks[c], As[c] = K, A
          k = k + keyCount
          a = a + argCount
        end
        -- The ops first, the hashes that carry the token last, each in one command: Garnet's append-only file may keep
        -- only the first commands of a script when the server dies while committing it, so a token found by a resent
        -- commit proves that everything before it was kept.
        local replies = {}
        if ARGV[1] == 'create' then
          local statuses, resentAny, written = {}, false, {}
          for c = 1, n do
            local status = check(Ks[c], As[c])
            -- Two creations of the same hash in one batch: the second is a conflict, as it would be after the first.
            for _, h in ipairs({As[c][1] ~= 'skip' and Ks[c][1] or false, As[c][7] ~= '' and Ks[c][2] or false}) do
              if h and status == 'pass' then
                if written[h] then status = 'conflict' else written[h] = true end
              end
            end
            if status == 'resent' then resentAny = true end
            statuses[c] = status
          end
          -- The merged ops first, then each creation's other ops and its hashes, so a hash still proves that every op
          -- before it was kept. Resent (some hash of this batch is there): the merged ops were all kept; a creation
          -- whose hash was lost with the end of the script writes its other ops and its hashes now.
          if not resentAny then
            local byKey, order = {}, {}
            for c = 1, n do
              if statuses[c] == 'pass' then
                eachOp(Ks[c], As[c], function(command, key, args)
                  if not mergeable(command, args) then return end
                  local id = command .. ' ' .. key
                  if not byKey[id] then
                    byKey[id] = {command = command, key = key, args = {}}
                    table.insert(order, byKey[id])
                  end
                  for _, arg in ipairs(args) do table.insert(byKey[id].args, arg) end
                end)
              end
            end
            for _, m in ipairs(order) do redis.call(m.command, m.key, unpack(m.args)) end
          end
          for c = 1, n do
            if statuses[c] == 'pass' then
              eachOp(Ks[c], As[c], function(command, key, args)
                if not mergeable(command, args) then run(command, key, args) end
              end)
              writeHashes(Ks[c], As[c])
            end
            if statuses[c] == 'pass' or statuses[c] == 'resent' then statuses[c] = 'ok' end
            replies[c] = {statuses[c]}
          end
          return replies
        end
        if ARGV[1] == 'each' then
          for c = 1, n do
            local status = check(Ks[c], As[c])
            -- Sent again after a lost reply, a change that finds its own token was committed whatever its predecessors
            -- answer now (one of the same job finds a later token, not its own, and answers 'conflict').
            if status ~= 'resent' then
              for before in string.gmatch(As[c][14], '%d+') do
                if replies[tonumber(before)][1] ~= 'ok' then status = 'conflict' end
              end
            end
            if status == 'pass' then
              writeOps(Ks[c], As[c])
              writeHashes(Ks[c], As[c])
              status = 'ok'
            elseif status == 'resent' then
              status = 'ok'
            end
            replies[c] = {status}
          end
          return replies
        end
        local statuses = {}
        local resentAny, refusal = false, nil
        for c = 1, n do
          statuses[c] = check(Ks[c], As[c])
          if statuses[c] == 'resent' then resentAny = true
          elseif statuses[c] ~= 'pass' and not refusal then refusal = statuses[c] end
        end
        if resentAny then
          -- This batch was applied before: every op of it was kept (they all precede every hash), and a hash still at
          -- the version its change expects was lost with the end of the script; it is written now.
          for c = 1, n do
            if statuses[c] == 'pass' then writeHashes(Ks[c], As[c]) end
          end
          refusal = nil
        elseif not refusal then
          for c = 1, n do writeOps(Ks[c], As[c]) end
          for c = 1, n do writeHashes(Ks[c], As[c]) end
        end
        for c = 1, n do replies[c] = {refusal or 'ok'} end
        return replies
        """;

    public async Task<CommitResult> CommitAsync(JobCommit commit, CancellationToken cancellationToken) =>
        (await CommitManyAsync([commit], cancellationToken))[0];

    /// <summary>Applies several independent changes with one script (each checked on its own: some may commit and
    /// others not), then notifies each stream appended to once.</summary>
    public Task<IReadOnlyList<CommitResult>> CommitManyAsync(IReadOnlyList<JobCommit> commits, CancellationToken cancellationToken) =>
        CommitAsync(commits, "each", cancellationToken);

    /// <summary>Applies several creations (commits that create their job or group) with one script, each checked on
    /// its own as by <see cref="CommitManyAsync"/>, and then those that pass written together: their index and queue
    /// entries with one command per key, before any of their hashes. Sent again after a lost reply, the batch
    /// recognises itself.</summary>
    public Task<IReadOnlyList<CommitResult>> CreateManyAsync(IReadOnlyList<JobCommit> creations, CancellationToken cancellationToken) =>
        CommitAsync(creations, "create", cancellationToken);

    /// <summary>Applies several changes with one script, all of them or none: <see cref="CommitStatus.Committed"/>, or
    /// the first change's refusal (a <see cref="CommitStatus.Conflict"/> when any of them changed since it was read).
    /// Sent again after a lost reply, the batch recognises itself as the single changes do.</summary>
    public async Task<CommitResult> CommitAllAsync(IReadOnlyList<JobCommit> commits, CancellationToken cancellationToken) =>
        (await CommitAsync(commits, "all", cancellationToken))[0];

    private async Task<IReadOnlyList<CommitResult>> CommitAsync(IReadOnlyList<JobCommit> commits, string mode, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfZero(commits.Count);
        var keys = new List<string>();
        List<RedisArg> header = [mode, commits.Count];
        var args = new List<RedisArg>();
        foreach (var commit in commits)
        {
            List<RedisArg> own =
            [
                commit.JobVersion, commit.JobStatus, commit.JobRecordJson, commit.JobEngineJson, commit.JobProgress, commit.JobPromptId,
                commit.GroupVersion, commit.GroupStatus, commit.GroupRecordJson, commit.GroupCompletes ? "1" : "0",
                commit.SlotKeyIndex, commit.SlotLimit, commit.Token, string.Join(' ', commit.After.Select(c => c + 1)),
            ];
            own.AddRange(commit.Ops);
            var commitKeys = commit.Keys;
            keys.AddRange(commitKeys);
            header.Add(commitKeys.Count);
            header.Add(own.Count);
            args.AddRange(own);
        }

        header.AddRange(args);
        // Safe to send again: every change in it recognises itself (see the script).
        var replies = (await redis.ScriptEvaluateAsync(ChangeScript, keys, header, OnLostReply.Resend, cancellationToken)).Items;
        var results = new List<CommitResult>(commits.Count);
        var notify = new HashSet<JobStreamId>();
        for (var c = 0; c < commits.Count; c++)
        {
            var status = replies[c].Items[0].AsString() switch
            {
                "ok" => CommitStatus.Committed,
                "conflict" => CommitStatus.Conflict,
                "full" => CommitStatus.SlotFull,
                _ => CommitStatus.Refused,
            };
            if (status == CommitStatus.Committed)
            {
                notify.UnionWith(commits[c].Streams);
            }

            results.Add(new CommitResult(status));
        }

        await Task.WhenAll(notify.Select(stream => NotifyAsync(stream, cancellationToken)));
        return results;
    }

    private async Task NotifyAsync(JobStreamId stream, CancellationToken cancellationToken)
    {
        try
        {
            await redis.PublishAsync(JobKeys.StreamNotifications, stream.ToString(), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The events are stored; subscribers also poll, so they see them a little later.
            logger.LogWarning(ex, "Appended events to stream {Stream} but could not notify its subscribers", stream);
        }
    }

    public async Task<StoredJob?> GetJobAsync(string jobId, CancellationToken cancellationToken)
    {
        var items = await redis.HashGetManyAsync(JobKeys.Job(jobId), ["record", "engine", "version"], cancellationToken);
        if (items[0] is not { } record)
        {
            return null;
        }

        return new StoredJob(
            JsonSerializer.Deserialize<JobRecord>(record, JobJson.Options)!,
            items[1] is { } engine ? JsonSerializer.Deserialize<JobEngineState>(engine, JobJson.Options)! : new JobEngineState(),
            long.Parse(items[2] ?? "0", CultureInfo.InvariantCulture));
    }

    /// <summary>What the job sends to its node (<see cref="JobPrompt"/>); null when it is not stored (which no job
    /// created by this version can be). Children of one group share one read within a call.</summary>
    public async Task<IReadOnlyList<JobPrompt?>> GetPromptsAsync(IReadOnlyList<JobRecord> records, CancellationToken cancellationToken)
    {
        var reads = new Dictionary<string, Task<string?>>(StringComparer.Ordinal);
        foreach (var record in records.Where(r => r.EmbeddedPrompt is null))
        {
            var holder = JobKeys.PromptHolder(record);
            if (!reads.ContainsKey(holder))
            {
                reads[holder] = redis.HashGetAsync(holder, "prompt", cancellationToken);
            }
        }

        await Task.WhenAll(reads.Values);
        var parsed = new Dictionary<string, JobPrompt?>(StringComparer.Ordinal);
        return records.Select(record =>
        {
            if (record.EmbeddedPrompt is { } embedded)
            {
                return new JobPrompt(embedded, record.EmbeddedWorkflow);
            }

            var holder = JobKeys.PromptHolder(record);
            if (!parsed.TryGetValue(holder, out var prompt))
            {
                prompt = parsed[holder] = reads[holder].Result is { } json ? JsonSerializer.Deserialize<JobPrompt>(json, JobJson.Options) : null;
            }

            return prompt;
        }).ToList();
    }

    /// <summary>The group <paramref name="jobId"/> is a child of; null for a single job or one that does not exist (a
    /// job's group never changes, so callers may keep the answer).</summary>
    public async Task<string?> GetGroupIdOfJobAsync(string jobId, CancellationToken cancellationToken) =>
        await redis.HashGetAsync(JobKeys.Job(jobId), "record", cancellationToken) is { } record
            ? JsonSerializer.Deserialize<JobRecord>(record, JobJson.Options)!.GroupId
            : null;

    /// <summary>The history of a job or group, oldest first; empty when it has none (or it expired).</summary>
    public async Task<IReadOnlyList<JobHistoryEntry>> GetHistoryAsync(string jobOrGroupId, CancellationToken cancellationToken)
    {
        var entries = await redis.ListRangeAsync(JobKeys.History(jobOrGroupId), cancellationToken: cancellationToken);
        return entries.Select(JobHistory.Parse).Reverse().ToList();
    }

    /// <summary>The jobs (single and children) that ended at or after <paramref name="since"/>, at most
    /// <paramref name="limit"/> of them, oldest first.</summary>
    public Task<IReadOnlyList<string>> EndedSinceAsync(DateTimeOffset since, int limit, CancellationToken cancellationToken) =>
        redis.SortedSetRangeByScoreAsync(JobKeys.RecentlyEnded, since.ToUnixTimeMilliseconds(), double.PositiveInfinity, 0, limit, cancellationToken);

    /// <summary>The jobs in the order of <paramref name="jobIds"/>; those that no longer exist are left out.</summary>
    public async Task<IReadOnlyList<StoredJob>> GetJobsAsync(IEnumerable<string> jobIds, CancellationToken cancellationToken)
    {
        var jobs = await Task.WhenAll(jobIds.Select(id => GetJobAsync(id, cancellationToken)));
        return jobs.OfType<StoredJob>().ToList();
    }

    /// <summary>The status of each of <paramref name="jobIds"/>, in their order: one field of each hash (written with
    /// its record by every change), no record read or parsed; null for a job that does not exist or has no such field.</summary>
    public async Task<IReadOnlyList<string?>> GetJobStatusesAsync(IReadOnlyList<string> jobIds, CancellationToken cancellationToken) =>
        await Task.WhenAll(jobIds.Select(id => redis.HashGetAsync(JobKeys.Job(id), "status", cancellationToken)));

    public async Task<StoredGroup?> GetGroupAsync(string groupId, CancellationToken cancellationToken)
    {
        var items = await redis.HashGetManyAsync(JobKeys.Group(groupId), ["record", "version", "completed"], cancellationToken);
        if (items[0] is not { } record)
        {
            return null;
        }

        return new StoredGroup(
            JsonSerializer.Deserialize<JobGroupRecord>(record, JobJson.Options)!,
            long.Parse(items[1] ?? "0", CultureInfo.InvariantCulture),
            items[2] == "1");
    }

    /// <summary>Takes <paramref name="count"/> consecutive numbers of the queue's sequence with one command and returns
    /// the first; <see cref="QueueScore"/> makes a place of each.</summary>
    public async Task<long> ReserveQueueSequencesAsync(int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        // Safe to send again after a lost reply: a second increment only leaves unused places in the sequence, and
        // places are only ever compared, never counted.
        var last = await redis.StringIncrementAsync(JobKeys.QueueSequence, count, OnLostReply.Resend, cancellationToken);
        return last - count + 1;
    }

    /// <summary>The backend ids that have (or had) a queue of their own.</summary>
    public async Task<IReadOnlyList<string>> QueuedBackendsAsync(CancellationToken cancellationToken)
    {
        return await redis.SetMembersAsync(JobKeys.QueuedBackends, cancellationToken);
    }

    /// <summary>The jobs holding a slot of <paramref name="backendId"/> (<see cref="JobKeys.Assigned"/>): dispatched to it
    /// and not ended.</summary>
    public async Task<IReadOnlyList<string>> AssignedJobIdsAsync(string backendId, CancellationToken cancellationToken) =>
        await redis.SetMembersAsync(JobKeys.Assigned(backendId), cancellationToken);

    public async Task<IReadOnlyList<string>> CancellingGroupsAsync(CancellationToken cancellationToken)
    {
        return await redis.SetMembersAsync(JobKeys.CancellingGroups, cancellationToken);
    }

    // KEYS: job hash, queue, queued backends set. ARGV: version read, score, job id, backend id ('' for the any queue).
    private const string RequeueScript = """
        if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
        if redis.call('ZSCORE', KEYS[2], ARGV[3]) then return 0 end
        redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
        if ARGV[4] ~= '' then redis.call('SADD', KEYS[3], ARGV[4]) end
        return 1
        """;

    /// <summary>Puts a queued job that is in no queue back into its own, unless it changed since it was read
    /// (<paramref name="job"/>'s version) or is there already; true when it was put back.</summary>
    public async Task<bool> RequeueIfStrandedAsync(StoredJob job, CancellationToken cancellationToken)
    {
        // Nearly every job is where it should be: a read tells, and only a job missing from its queue runs the script,
        // which checks again in one step with the write.
        var queue = JobKeys.QueueOf(job.Record, job.State);
        if (await redis.SortedSetContainsAsync(queue, job.Record.JobId, cancellationToken))
        {
            return false;
        }

        var backendId = job.State.Target ?? job.Record.BackendAffinity ?? "";
        var reply = await redis.ScriptEvaluateAsync(RequeueScript,
            [JobKeys.Job(job.Record.JobId), queue, JobKeys.QueuedBackends],
            [job.Version, job.State.QueueScore, job.Record.JobId, backendId], cancellationToken);
        return reply.AsInt64() == 1;
    }

    /// <summary>A place in the queue: lower priorities first, then first-in first-out (by <paramref name="sequence"/>,
    /// from <see cref="ReserveQueueSequencesAsync"/>). Priorities are clamped to ±4095 so that the score stays exact in a double.</summary>
    public static double QueueScore(int priority, long sequence) =>
        Math.Clamp(priority, -4095, 4095) * (double)(1L << 40) + sequence;

    /// <summary>How many jobs (single and children) there are in <paramref name="status"/>, or in all (null).</summary>
    public async Task<long> CountJobsAsync(string? status, CancellationToken cancellationToken) =>
        await redis.SortedSetLengthAsync(JobIndex(status), cancellationToken: cancellationToken);

    /// <summary>A page of the jobs in <paramref name="status"/> (every job when null), newest submitted first.</summary>
    public Task<IReadOnlyList<string>> JobIdsNewestFirstAsync(string? status, int offset, int limit, CancellationToken cancellationToken) =>
        NewestFirstAsync(JobIndex(status), offset, limit, cancellationToken);

    /// <summary>A page of the jobs in <paramref name="status"/>, oldest submitted first.</summary>
    public Task<IReadOnlyList<string>> JobIdsAsync(string status, int offset, int limit, CancellationToken cancellationToken) =>
        OldestFirstAsync(JobKeys.JobStatusIndex(status), offset, limit, cancellationToken);

    /// <summary>A page of the groups, newest created first.</summary>
    public Task<IReadOnlyList<string>> GroupIdsNewestFirstAsync(int offset, int limit, CancellationToken cancellationToken) =>
        NewestFirstAsync(JobKeys.GroupIndex, offset, limit, cancellationToken);

    /// <summary>The first <paramref name="limit"/> jobs of <paramref name="queue"/> with their places in it
    /// (<see cref="QueueScore"/>), in queue order.</summary>
    public Task<IReadOnlyList<(string Member, double Score)>> QueuedJobsAsync(JobQueue queue, int limit, CancellationToken cancellationToken) =>
        redis.SortedSetRangeByRankWithScoresAsync(JobKeys.Queue(queue), 0, limit - 1, cancellationToken);

    /// <summary>Takes a job that is gone or no longer waiting out of <paramref name="queue"/>.</summary>
    public Task RemoveFromQueueAsync(JobQueue queue, string jobId, CancellationToken cancellationToken) =>
        redis.SortedSetRemoveAsync(JobKeys.Queue(queue), jobId, cancellationToken);

    /// <summary>Up to <paramref name="limit"/> jobs whose dispatch was recorded before <paramref name="before"/> and
    /// not confirmed, oldest first.</summary>
    public Task<IReadOnlyList<string>> StaleDispatchesAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken) =>
        ScoredBeforeAsync(JobKeys.Dispatching, before, limit, cancellationToken);

    /// <summary>Forgets the pending dispatch of a job that is gone, ended or no longer pending.</summary>
    public Task ForgetDispatchAsync(string jobId, CancellationToken cancellationToken) =>
        redis.SortedSetRemoveAsync(JobKeys.Dispatching, jobId, cancellationToken);

    /// <summary>Up to <paramref name="limit"/> single jobs that ended before <paramref name="before"/>, oldest first.</summary>
    public Task<IReadOnlyList<string>> FinishedJobsBeforeAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken) =>
        ScoredBeforeAsync(JobKeys.FinishedJobs, before, limit, cancellationToken);

    /// <summary>Up to <paramref name="limit"/> groups that ended before <paramref name="before"/>, oldest first.</summary>
    public Task<IReadOnlyList<string>> FinishedGroupsBeforeAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken) =>
        ScoredBeforeAsync(JobKeys.FinishedGroups, before, limit, cancellationToken);

    /// <summary>Takes an ended single job that no longer exists out of the retention cleanup's index.</summary>
    public Task ForgetFinishedJobAsync(string jobId, CancellationToken cancellationToken) =>
        redis.SortedSetRemoveAsync(JobKeys.FinishedJobs, jobId, cancellationToken);

    /// <summary>Takes an ended group that no longer exists out of the retention cleanup's index.</summary>
    public Task ForgetFinishedGroupAsync(string groupId, CancellationToken cancellationToken) =>
        redis.SortedSetRemoveAsync(JobKeys.FinishedGroups, groupId, cancellationToken);

    /// <summary>Takes a group that is gone or completed out of the groups being cancelled.</summary>
    public Task ForgetCancellingGroupAsync(string groupId, CancellationToken cancellationToken) =>
        redis.SetRemoveAsync(JobKeys.CancellingGroups, groupId, cancellationToken);

    public async Task<long> CountSlotsAsync(string backendId, CancellationToken cancellationToken) =>
        await redis.SetLengthAsync(JobKeys.Assigned(backendId), cancellationToken);

    private static string JobIndex(string? status) => status is null ? JobKeys.JobIndex : JobKeys.JobStatusIndex(status);

    private async Task<IReadOnlyList<string>> NewestFirstAsync(string key, int offset, int limit, CancellationToken cancellationToken)
    {
        if (limit <= 0)
        {
            return [];
        }

        return await redis.SortedSetRangeByRankAsync(key, offset, offset + limit - 1, SortOrder.Descending, cancellationToken);
    }

    private async Task<IReadOnlyList<string>> OldestFirstAsync(string key, int offset, int limit, CancellationToken cancellationToken) =>
        await redis.SortedSetRangeByRankAsync(key, offset, offset + limit - 1, cancellationToken: cancellationToken);

    private Task<IReadOnlyList<string>> ScoredBeforeAsync(string key, DateTimeOffset before, int limit, CancellationToken cancellationToken) =>
        redis.SortedSetRangeByScoreAsync(key, double.NegativeInfinity, before.ToUnixTimeMilliseconds(), 0, limit, cancellationToken);

    /// <summary>Deletes every key of <see cref="JobKeys.AllKeyPatterns"/> (found with SCAN, deleted in batches);
    /// returns how many were deleted.</summary>
    public async Task<long> DeleteAllJobStateAsync(CancellationToken cancellationToken)
    {
        long deleted = 0;
        foreach (var pattern in JobKeys.AllKeyPatterns)
        {
            var cursor = "0";
            do
            {
                var page = await redis.KeyScanAsync(cursor, pattern, 500, cancellationToken);
                cursor = page.Cursor;
                var keys = page.Keys;
                if (keys.Count > 0)
                {
                    deleted += await redis.KeyDeleteAsync(keys, cancellationToken);
                }
            }
            while (cursor != "0");
        }

        return deleted;
    }

    /// <summary>Removes an ended single job for good: its hash, stream and index entries.</summary>
    public async Task DeleteJobAsync(StoredJob job, CancellationToken cancellationToken)
    {
        var id = job.Record.JobId;
        await redis.KeyDeleteAsync([JobKeys.Job(id), JobKeys.Stream(JobStreamId.Job(id))], cancellationToken);
        await redis.SortedSetRemoveAsync(JobKeys.JobIndex, id, cancellationToken);
        await redis.SortedSetRemoveAsync(JobKeys.JobStatusIndex(job.Record.Status), id, cancellationToken);
        await redis.SortedSetRemoveAsync(JobKeys.FinishedJobs, id, cancellationToken);
    }

    /// <summary>Removes an ended group with its children and streams.</summary>
    public async Task DeleteGroupAsync(StoredGroup group, CancellationToken cancellationToken)
    {
        foreach (var child in await GetJobsAsync(group.Record.ChildJobIds, cancellationToken))
        {
            await DeleteJobAsync(child, cancellationToken);
        }

        var id = group.Record.JobGroupId;
        await redis.KeyDeleteAsync([JobKeys.Group(id), JobKeys.Stream(JobStreamId.Group(id))], cancellationToken);
        await redis.SortedSetRemoveAsync(JobKeys.GroupIndex, id, cancellationToken);
        await redis.SortedSetRemoveAsync(JobKeys.FinishedGroups, id, cancellationToken);
    }
}
