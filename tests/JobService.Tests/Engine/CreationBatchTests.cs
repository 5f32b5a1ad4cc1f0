using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>A batch of creations (<see cref="JobStore.CreateManyAsync"/>) writes the index and queue entries of all its
/// jobs with one command per key: each job still ends up in every index and in its queue at its own place, a job twice in
/// one batch is created once, a batch sent again after a lost reply is applied once, and a history stays within its
/// bound when the trim after a push has nothing to cut and has its expiry renewed when it has run down.</summary>
public sealed class CreationBatchTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task JobsOfOneBatchSharingAQueueAreEachIndexedAndQueuedAtTheirOwnPlace()
    {
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var store = new JobStore(redis, NullLogger<JobStore>.Instance);
        var backendId = "merged-" + Guid.NewGuid().ToString("N");
        var jobs = Enumerable.Range(0, 5).Select(i => (Record: NewJob(backendId), Score: 10.0 - i)).ToList();

        var results = await store.CreateManyAsync(jobs.Select(job => Creation(job.Record, job.Score)).ToList(), Token);

        Assert.All(results, result => Assert.Equal(CommitStatus.Committed, result.Status));
        var queue = JobKeys.BackendQueue(backendId);
        Assert.Equal(jobs.OrderBy(job => job.Score).Select(job => job.Record.JobId), await redis.SortedSetRangeByScoreAsync(queue, cancellationToken: Token));
        foreach (var (record, score) in jobs)
        {
            Assert.Equal(score, double.Parse((await redis.ExecuteAsync(["ZSCORE", queue, record.JobId], Token)).AsString()!, System.Globalization.CultureInfo.InvariantCulture));
            Assert.False((await redis.ExecuteAsync(["ZSCORE", JobKeys.JobIndex, record.JobId], Token)).IsNull);
            Assert.False((await redis.ExecuteAsync(["ZSCORE", JobKeys.JobStatusIndex(JobStatuses.Queued), record.JobId], Token)).IsNull);
            Assert.Equal(1, (await store.GetJobAsync(record.JobId, Token))!.Version);
            Assert.Equal(1, (await redis.ExecuteAsync(["LLEN", JobKeys.History(record.JobId)], Token)).AsInt64());
        }
    }

    [Fact]
    public async Task AJobTwiceInOneBatchIsCreatedOnceAndTheSecondConflicts()
    {
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var store = new JobStore(redis, NullLogger<JobStore>.Instance);
        var record = NewJob("twice-" + Guid.NewGuid().ToString("N"));

        var results = await store.CreateManyAsync([Creation(record, 1), Creation(record, 2)], Token);

        Assert.Equal([CommitStatus.Committed, CommitStatus.Conflict], results.Select(result => result.Status));
        Assert.Equal(1, (await redis.ExecuteAsync(["LLEN", JobKeys.History(record.JobId)], Token)).AsInt64());
        Assert.Equal("1", (await redis.ExecuteAsync(["ZSCORE", JobKeys.BackendQueue(record.BackendAffinity!), record.JobId], Token)).AsString());
    }

    [Fact]
    public async Task ABatchWhoseReplyWasLostIsSentAgainAndEachJobAppliedOnce()
    {
        await using var lostReplies = await LostReplyConnection.StartAsync(garnet.Server.Port, Token);
        var (relay, redis) = (lostReplies.Relay, lostReplies.Redis);
        await using var direct = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var store = new JobStore(redis, NullLogger<JobStore>.Instance);
        var backendId = "resent-batch-" + Guid.NewGuid().ToString("N");
        var jobs = Enumerable.Range(0, 3).Select(_ => NewJob(backendId)).ToList();

        relay.LoseReplies();
        var batch = store.CreateManyAsync(jobs.Select((record, i) => Creation(record, i)).ToList(), Token);
        await Eventually.ReturnsAsync(() => direct.KeyExistsAsync(JobKeys.Job(jobs[^1].JobId), Token), exists => exists);
        relay.BreakConnections();

        Assert.All(await batch.WaitAsync(Patience, Token), result => Assert.Equal(CommitStatus.Committed, result.Status));
        Assert.Equal(jobs.Select(job => job.JobId), await direct.SortedSetRangeByScoreAsync(JobKeys.BackendQueue(backendId), cancellationToken: Token));
        foreach (var record in jobs)
        {
            Assert.Equal("1", await direct.HashGetAsync(JobKeys.Job(record.JobId), "version", Token));
            Assert.Equal(1, (await direct.ExecuteAsync(["LLEN", JobKeys.History(record.JobId)], Token)).AsInt64());
        }
    }

    [Fact]
    public async Task AHistoryStaysWithinItsBound()
    {
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var store = new JobStore(redis, NullLogger<JobStore>.Instance);
        var id = "bounded-" + Guid.NewGuid().ToString("N");
        const int bound = 3;

        // Pushes that leave the list within its bound skip the trim; the fourth and fifth must still be cut.
        for (var i = 0; i < 5; i++)
        {
            var group = new JobGroupRecord(id, JobGroupStatuses.Running, DateTimeOffset.UnixEpoch);
            var commit = new JobCommit().WriteGroup(group, expectedVersion: i == 0 ? null : i, completes: false)
                .PushHistory(id, $"entry {i}", bound, TimeSpan.FromHours(1));
            Assert.Equal(CommitStatus.Committed, (await store.CommitAsync(commit, Token)).Status);
        }

        var entries = await redis.ExecuteAsync(["LRANGE", JobKeys.History(id), "0", "-1"], Token);
        Assert.Equal(["entry 4", "entry 3", "entry 2"], entries.Items.Select(item => item.AsString()));
        Assert.InRange((await redis.ExecuteAsync(["PTTL", JobKeys.History(id)], Token)).AsInt64(), 1, (long)TimeSpan.FromHours(1).TotalMilliseconds);
    }

    [Fact]
    public async Task AHistoryPushRenewsAnExpiryFurtherThanASecondFromItsRetention()
    {
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var store = new JobStore(redis, NullLogger<JobStore>.Instance);
        var id = "renewed-" + Guid.NewGuid().ToString("N");
        var retention = TimeSpan.FromHours(1);
        var group = new JobGroupRecord(id, JobGroupStatuses.Running, DateTimeOffset.UnixEpoch);
        Assert.Equal(CommitStatus.Committed, (await store.CommitAsync(
            new JobCommit().WriteGroup(group, expectedVersion: null, completes: false).PushHistory(id, "first", 10, retention), Token)).Status);

        // The expiry has run down to a minute (as if an hour had passed), then the next push renews it.
        await redis.ExecuteAsync(["PEXPIRE", JobKeys.History(id), "60000"], Token);
        Assert.Equal(CommitStatus.Committed, (await store.CommitAsync(
            new JobCommit().WriteGroup(group, expectedVersion: 1, completes: false).PushHistory(id, "second", 10, retention), Token)).Status);

        Assert.InRange((await redis.ExecuteAsync(["PTTL", JobKeys.History(id)], Token)).AsInt64(), (long)retention.TotalMilliseconds - 10_000, (long)retention.TotalMilliseconds);
    }

    private static JobRecord NewJob(string backendId) =>
        new(Guid.NewGuid().ToString(), JobStatuses.Queued, DateTimeOffset.UtcNow) { BackendAffinity = backendId, QueuedAt = DateTimeOffset.UtcNow };

    private static JobCommit Creation(JobRecord record, double queueScore) => JobCreationBatcherTests.Creation(record, queueScore);
}
