using System.Text.RegularExpressions;

namespace DirectorsConsole.ServiceDefaults.Tests.Architecture;

/// <summary>
/// Only the stores own Redis keys: a type whose job is to keep a piece of Redis state names its keys and channels;
/// every other class asks it (<c>JobStore.CountJobsAsync(status)</c>, not a count of <c>JobKeys.JobStatusIndex(status)</c>),
/// so the layout can change in one place and a key is never written by code that does not know its rules. This test
/// reads the source tree and fails on a key class, a render key or a <c>"dc:</c> literal used outside the declared
/// owners below, and on a raw command (<c>JobCommit.Op</c>, a command name) outside the stores that write through
/// <c>JobCommit</c>. Comment lines are not read: a <c>&lt;see cref="JobKeys.X"/&gt;</c> in a doc comment names a key without using it.
/// </summary>
public sealed partial class RedisKeyOwnershipRuleTests
{
    /// <summary>The files that may name Redis keys, each with what it owns.</summary>
    private static readonly Dictionary<string, string> KeyOwners = new(StringComparer.Ordinal)
    {
        ["JobService/Engine/JobKeys.cs"] = "declares every key and channel of the job engine",
        ["JobService/Engine/JobStore.cs"] = "owns jobs, groups, their indexes, queues, slots, streams and histories (and JobCommit, which writes them)",
        ["JobService/Engine/RedisJobEventStream.cs"] = "reads the event streams and listens to their notifications",
        ["JobService/Engine/SchedulerWake.cs"] = "owns the scheduler's wake-up channel",
        ["JobService/Engine/SchedulerLease.cs"] = "owns the scheduler's lease",
        ["JobService/Engine/RenderCancellation.cs"] = "writes a prompt's cancel flag and announces it",
        ["JobService/Engine/PromptStateReader.cs"] = "reads the last render event of a prompt (BackendService writes it)",
        ["JobService/Webhooks/WebhookOutbox.cs"] = "owns the webhook outbox (pending deliveries and when each is due)",
        ["BackendService/Infrastructure/BackendKeys.cs"] = "declares the backend registry's keys and channel",
        ["BackendService/Infrastructure/BackendRegistry.cs"] = "owns the backend definitions, deleted seeds and retiring backends",
        ["BackendService/Infrastructure/BackendStateStore.cs"] = "owns the runtime state and status of each backend",
        ["BackendService/Infrastructure/BackendLeases.cs"] = "owns the backend leases (take, renew, take over, release)",
        ["BackendService/Infrastructure/BackendLeaseManager.cs"] = "owns the replica heartbeats and presence channels, and listens to registry changes",
        ["BackendService/Agents/AgentPresenceStore.cs"] = "owns the render agents' registrations, reports and last-seen times",
        ["BackendService/Dispatch/DispatchStore.cs"] = "owns the in-flight prompts, socket client ids, prompt states and post failures",
        ["ServiceDefaults/Backends/BackendDirectory.cs"] = "the shared reader of the backend registry (declares the keys it reads)",
        ["ServiceDefaults/Paths/PathMapping.cs"] = "declares the path mappings' keys and channel",
        ["ServiceDefaults/Paths/PathMappingRedis.cs"] = "the shared reader of the path mappings",
        ["ServiceDefaults/Paths/RedisPathTranslatorSource.cs"] = "listens to the path mappings' change channel",
        ["PathService/Infrastructure/PathMappingStore.cs"] = "owns the path mappings (writes them)",
        ["PathService/Infrastructure/PathMappingImporter.cs"] = "owns the marker that the mappings file was imported",
        ["GalleryService/Project/CurrentProjectStore.cs"] = "owns the current project",
        ["GalleryService/Gallery/Storage/ProjectLock.cs"] = "owns the per-project locks",
        ["Contracts/RenderMessages.cs"] = "declares the render keys both services share (prompt state, cancel flag)",
        ["Messaging/RedisDurableQueue.cs"] = "owns the durable queues' keys",
    };

    /// <summary>The files that may write raw commands through <c>JobCommit.Op</c>: the stores whose state a job change
    /// writes in the same script.</summary>
    private static readonly Dictionary<string, string> RawCommandWriters = new(StringComparer.Ordinal)
    {
        ["JobService/Engine/JobStore.cs"] = "JobCommit's typed moves are spelled out here",
        ["JobService/Webhooks/WebhookOutbox.cs"] = "adds its deliveries to the job change that causes them",
    };

    // A key class of a service, the render keys of RenderChannels (its channel and queue names go to the typed event
    // bus and durable queue, which own their keys), or a literal that starts like every key of the suite.
    [GeneratedRegex("""\b(JobKeys|BackendKeys|BackendDirectoryKeys|DispatchKeys|GalleryRedisKeys|PathMappingKeys)\.|\bRenderChannels\.(PromptStateKey|CancelKey)\b|"dc:""")]
    private static partial Regex KeyUse();

    // JobCommit.Op, or a Redis command's name as a C# string (HTTP verbs such as "GET" are left out: they are not Redis's).
    [GeneratedRegex("""\.Op\(|(?<![A-Za-z'])\x22(ZADD|ZREM|ZREMRANGEBYSCORE|ZRANGE|ZSCORE|ZCARD|SADD|SREM|SMEMBERS|SCARD|HSET|HGET|HDEL|HMGET|HGETALL|HLEN|HINCRBY|LPUSH|RPUSH|LTRIM|LRANGE|LLEN|LREM|PEXPIRE|EXPIRE|INCR|INCRBY|EVAL|EVALSHA|PUBLISH|SCAN|UNLINK)\x22""")]
    private static partial Regex RawCommand();

    [Fact]
    public void OnlyTheStoresNameRedisKeys()
    {
        var offenders = Offenders(KeyUse(), KeyOwners, "tests");
        Assert.True(offenders.Count == 0,
            "Redis keys are named only by the stores that own them (add a method to the store, or declare a new store in KeyOwners with a reason):\n"
            + string.Join("\n", offenders));
    }

    [Fact]
    public void OnlyTheStoresWriteRawCommands()
    {
        // Messaging/ is the command library itself (RedisCommandRuleTests keeps commands there).
        var offenders = Offenders(RawCommand(), RawCommandWriters, "tests", "Messaging");
        Assert.True(offenders.Count == 0,
            "Raw Redis commands (JobCommit.Op, a command name) are written only in the stores of RawCommandWriters; use a typed JobCommit method:\n"
            + string.Join("\n", offenders));
    }

    [Theory]
    [InlineData("""var ids = await store.RangeAsync(JobKeys.JobStatusIndex(status), 0, 10, ct);""", true)]
    [InlineData("""await redis.HashDeleteAsync(BackendKeys.InFlight(backendId), promptId, ct);""", true)]
    [InlineData("""var json = await redis.HashGetAsync(RenderChannels.PromptStateKey(promptId), "event", ct);""", true)]
    [InlineData("""public const string BackendsKey = "dc:backends";""", true)]
    [InlineData("""await eventBus.PublishAsync(RenderChannels.RenderEvents, renderEvent, ct);""", false)]
    [InlineData("""var ids = await store.JobIdsAsync(JobStatuses.Running, 0, 10, ct);""", false)]
    [InlineData("""var keys = new MyJobKeys.Thing();""", false)]
    public void TheRuleRecognisesAKey(string line, bool isKey) =>
        Assert.Equal(isKey, KeyUse().IsMatch(line));

    [Theory]
    [InlineData("""commit.Op("ZADD", key, score, id);""", true)]
    [InlineData("""var commit = new JobCommit().WriteGroup(record, version, false).Op(command, key);""", true)]
    [InlineData("""RedisArg[] command = ["SADD", key, member];""", true)]
    [InlineData("""public static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE"];""", false)]
    [InlineData("""if redis.call('HGET', KEYS[1], 'status') == 'done' then""", false)]
    [InlineData("""commit.MoveStatus(id, old.Record.Status, record.Status, record.SubmittedAt);""", false)]
    public void TheRuleRecognisesARawCommand(string line, bool isRaw) =>
        Assert.Equal(isRaw, RawCommand().IsMatch(line));

    [Theory]
    [InlineData("""/// The lease (<see cref="JobKeys.SchedulerLease"/>).""", true)]
    [InlineData("""    // see BackendKeys.Retiring""", true)]
    [InlineData("""     * JobKeys.Job(id) in a block comment""", true)]
    [InlineData("""var key = JobKeys.Job(id); // the job""", false)]
    public void CommentLinesAreNotRead(string line, bool isComment) =>
        Assert.Equal(isComment, IsComment(line));

    [Fact]
    public void TheRuleReadsTheServicesSources()
    {
        // A tree walk that found nothing, or an allow-list naming files that moved, would pass the rule for the wrong reason.
        var root = SourceTree.RepositoryRoot();
        var files = SourceTree.Files(root, "tests").Select(file => SourceTree.Relative(root, file)).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("JobService/Engine/JobStateMachine.cs", files);
        Assert.Contains("GalleryService/Project/RenderOutputFetcher.cs", files);
        Assert.Contains("Messaging/RedisDurableQueue.cs", files);
        Assert.DoesNotContain(files, file => file.StartsWith("tests/", StringComparison.Ordinal));
        Assert.All(KeyOwners.Keys.Concat(RawCommandWriters.Keys), owner => Assert.Contains(owner, files));
        // The owners do name keys and write commands: the patterns match real code, not only the examples above.
        Assert.NotEmpty(Matches(root, "JobService/Engine/JobStore.cs", KeyUse()));
        Assert.NotEmpty(Matches(root, "JobService/Engine/JobStore.cs", RawCommand()));
        Assert.NotEmpty(Matches(root, "JobService/Webhooks/WebhookOutbox.cs", RawCommand()));
    }

    private static List<string> Offenders(Regex rule, IReadOnlyDictionary<string, string> allowed, params string[] excludedTopFolders)
    {
        var root = SourceTree.RepositoryRoot();
        return SourceTree.Files(root, excludedTopFolders)
            .Where(file => !allowed.ContainsKey(SourceTree.Relative(root, file)))
            .SelectMany(file => Matches(root, SourceTree.Relative(root, file), rule))
            .ToList();
    }

    private static IEnumerable<string> Matches(string root, string relative, Regex rule)
    {
        var lines = File.ReadAllLines(Path.Combine(root, relative));
        for (var i = 0; i < lines.Length; i++)
        {
            if (!IsComment(lines[i]) && rule.IsMatch(lines[i]))
            {
                yield return $"{relative}:{i + 1}: {lines[i].Trim()}";
            }
        }
    }

    private static bool IsComment(string line)
    {
        var trimmed = line.TrimStart();
        return trimmed.StartsWith("//", StringComparison.Ordinal) || trimmed.StartsWith("/*", StringComparison.Ordinal)
            || trimmed.StartsWith('*');
    }
}
