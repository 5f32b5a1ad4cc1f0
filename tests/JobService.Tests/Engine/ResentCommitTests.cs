using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>A commit whose reply was lost with the connection is sent again, and the change script recognises it: the
/// job, its queue entry, its history and its events exist once, and the commit answers as it did the first time. A
/// different commit decided on the same version still conflicts.</summary>
public sealed class ResentCommitTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ACreationWhoseReplyWasLostIsSentAgainAndAppliedOnce()
    {
        await using var lostReplies = await LostReplyConnection.StartAsync(garnet.Server.Port, Token);
        var (relay, redis) = (lostReplies.Relay, lostReplies.Redis);
        await using var direct = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var store = new JobStore(redis, NullLogger<JobStore>.Instance);
        var (record, state) = NewJob();

        relay.LoseReplies();
        var commit = store.CommitAsync(Creation(record, state), Token);
        await Eventually.ReturnsAsync(() => direct.KeyExistsAsync(JobKeys.Job(record.JobId), Token), exists => exists);
        relay.BreakConnections();

        Assert.Equal(CommitStatus.Committed, (await commit.WaitAsync(Patience, Token)).Status);
        Assert.True(relay.HasSentWhileLosing(record.JobId), "the creation never reached the server before the connection broke");
        await AssertCreatedOnceAsync(direct, record, state);
    }

    [Fact]
    public async Task ACommitSentAgainFindsItselfAppliedWhileAnotherOnTheSameVersionConflicts()
    {
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var store = new JobStore(redis, NullLogger<JobStore>.Instance);
        var (record, state) = NewJob();
        var creation = Creation(record, state);
        Assert.Equal(CommitStatus.Committed, (await store.CommitAsync(creation, Token)).Status);

        var cancelled = record with { Status = JobStatuses.Cancelled };
        var change = new JobCommit().WriteJob(cancelled, state, expectedVersion: 1)
            .Op("ZREM", JobKeys.QueueOf(record, state), record.JobId)
            .Append(JobStreamId.Job(record.JobId), JobEventKinds.ForJob("status"), new JsonObject { ["status"] = JobStatuses.Cancelled }, record.SubmittedAt);
        Assert.Equal(CommitStatus.Committed, (await store.CommitAsync(change, Token)).Status);
        Assert.Equal(CommitStatus.Committed, (await store.CommitAsync(change, Token)).Status);
        var rival = new JobCommit().WriteJob(record with { Priority = 5 }, state, expectedVersion: 1);
        Assert.Equal(CommitStatus.Conflict, (await store.CommitAsync(rival, Token)).Status);

        // The creation stays recognisable after later changes; another creation of the same id is not it.
        Assert.Equal(CommitStatus.Committed, (await store.CommitAsync(creation, Token)).Status);
        Assert.Equal(CommitStatus.Conflict, (await store.CommitAsync(Creation(record, state), Token)).Status);

        var stored = await store.GetJobAsync(record.JobId, Token);
        Assert.Equal(2, stored!.Version);
        Assert.Equal(JobStatuses.Cancelled, stored.Record.Status);
        Assert.Equal(2, (await redis.ExecuteAsync(["LLEN", JobKeys.Stream(JobStreamId.Job(record.JobId))], Token)).AsInt64());
        Assert.Empty(await redis.SortedSetRangeByScoreAsync(JobKeys.QueueOf(record, state), cancellationToken: Token));
    }

    [Fact]
    public async Task AGroupCreationSentAgainIsAppliedOnce()
    {
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var store = new JobStore(redis, NullLogger<JobStore>.Instance);
        var groupId = "jg_" + Guid.NewGuid().ToString("N");
        var group = new JobGroupRecord(groupId, JobGroupStatuses.Running, DateTimeOffset.UnixEpoch);
        var commit = new JobCommit().WriteGroup(group, expectedVersion: null, completes: false)
            .Op("LPUSH", JobKeys.History(groupId), "submitted");

        Assert.Equal(CommitStatus.Committed, (await store.CommitAsync(commit, Token)).Status);
        Assert.Equal(CommitStatus.Committed, (await store.CommitAsync(commit, Token)).Status);
        var other = new JobCommit().WriteGroup(group, expectedVersion: null, completes: false);
        Assert.Equal(CommitStatus.Conflict, (await store.CommitAsync(other, Token)).Status);

        Assert.Equal(1, (await redis.ExecuteAsync(["LLEN", JobKeys.History(groupId)], Token)).AsInt64());
        Assert.Equal(1, (await store.GetGroupAsync(groupId, Token))!.Version);
    }

    private static (JobRecord Record, JobEngineState State) NewJob()
    {
        var jobId = Guid.NewGuid().ToString();
        // A backend of its own, so the queue holds this test's job only.
        var record = new JobRecord(jobId, JobStatuses.Queued, DateTimeOffset.UnixEpoch) { BackendAffinity = "resent-" + jobId };
        return (record, new JobEngineState { QueueScore = 1 });
    }

    // What JobStateMachine writes for a new job: the hash, its place in the queue, a history entry; and an event.
    private static JobCommit Creation(JobRecord record, JobEngineState state) =>
        new JobCommit().WriteJob(record, state, expectedVersion: null)
            .Op("ZADD", JobKeys.QueueOf(record, state), state.QueueScore, record.JobId)
            .Op("LPUSH", JobKeys.History(record.JobId), "submitted")
            .Append(JobStreamId.Job(record.JobId), JobEventKinds.ForJob("status"), new JsonObject { ["status"] = record.Status }, record.SubmittedAt);

    private static async Task AssertCreatedOnceAsync(IRedisConnection redis, JobRecord record, JobEngineState state)
    {
        Assert.Equal("1", await redis.HashGetAsync(JobKeys.Job(record.JobId), "version", Token));
        Assert.Equal([record.JobId], await redis.SortedSetRangeByScoreAsync(JobKeys.QueueOf(record, state), cancellationToken: Token));
        Assert.Equal(1, (await redis.ExecuteAsync(["LLEN", JobKeys.History(record.JobId)], Token)).AsInt64());
        Assert.Equal(1, (await redis.ExecuteAsync(["LLEN", JobKeys.Stream(JobStreamId.Job(record.JobId))], Token)).AsInt64());
    }
}
