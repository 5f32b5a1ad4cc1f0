using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>Group commit of submits (<see cref="JobCreationBatcher"/>): creations queued while the batches in flight wait
/// for the server are stored together, each once, each answered with its own outcome; a creation the server refuses fails alone, and
/// every creation answered as stored is there.</summary>
public sealed class JobCreationBatcherTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ConcurrentCreationsAreStoredTogetherOnceEachAndEachAnsweredItsOwn()
    {
        await using var rig = await Rig.StartAsync(garnet);
        var existing = NewJob();
        Assert.True(await rig.Batcher.CreateAsync(0, 1, scores => Creation(existing, scores[0])));
        var scriptsBefore = rig.Scripts;

        // Arrange: the scripts are held while 300 creations (one of a job that exists) queue up
        rig.HoldScripts();
        var jobs = Enumerable.Range(0, 300).Select(i => i == 150 ? existing : NewJob()).ToList();
        var creations = jobs.Select(job => rig.Batcher.CreateAsync(job.Priority, 1, scores => Creation(job, scores[0]))).ToList();

        // Act
        rig.ReleaseScripts();
        var answers = await Task.WhenAll(creations).WaitAsync(Patience, Token);

        // Assert: only the existing job's creation is refused; every other job is stored once, in its queue at a place of its own
        Assert.Equal(jobs.Select(job => job != existing), answers);
        var places = new HashSet<double>();
        foreach (var job in jobs.Where(job => job != existing))
        {
            var stored = await rig.Store.GetJobAsync(job.JobId, Token);
            Assert.Equal(1, stored!.Version);
            Assert.Equal([job.JobId], await rig.Redis.SortedSetRangeByScoreAsync(JobKeys.QueueOf(job, stored.State), cancellationToken: Token));
            Assert.Equal(1, (await rig.Redis.ExecuteAsync(["LLEN", JobKeys.History(job.JobId)], Token)).AsInt64());
            Assert.True(places.Add(stored.State.QueueScore), $"two jobs share the queue place {stored.State.QueueScore}");
        }

        // The batches sent before the scripts were let go (at most MaxBatchesInFlight, each with some of the 300), then
        // the rest in batches of at most MaxCommits: three to seven scripts, not 300.
        Assert.InRange(rig.Scripts - scriptsBefore, (int)Math.Ceiling(300.0 / JobCreationBatcher.MaxCommits),
            JobCreationBatcher.MaxBatchesInFlight + (int)Math.Ceiling(300.0 / JobCreationBatcher.MaxCommits));
    }

    [Fact]
    public async Task ACreationTheServerRefusesMidBatchFailsAloneAndTheOthersAreStored()
    {
        await using var rig = await Rig.StartAsync(garnet);
        // A key of the wrong type for the refused creation's history.
        var wrongType = "dc:test:wrong-type:" + Guid.NewGuid().ToString("N");
        await rig.Redis.ExecuteAsync(["SET", wrongType, "x"], Token);

        rig.HoldScripts();
        var jobs = Enumerable.Range(0, 7).Select(_ => NewJob()).ToList();
        var refused = jobs[3];
        var creations = jobs.Select(job => rig.Batcher.CreateAsync(0, 1, scores => job == refused
            ? new JobCommit().WriteJob(job, new JobEngineState { QueueScore = scores[0] }, expectedVersion: null).Op("LPUSH", wrongType, "submitted")
            : Creation(job, scores[0]))).ToList();

        // Act: the seven go in one batch or a few (as the writer took them), and the server stops the script of the fourth
        rig.ReleaseScripts();

        // Assert
        await Assert.ThrowsAsync<RedisServerException>(() => creations[3].WaitAsync(Patience, Token));
        Assert.Null(await rig.Store.GetJobAsync(refused.JobId, Token));
        foreach (var (job, creation) in jobs.Zip(creations).Where(pair => pair.First != refused))
        {
            Assert.True(await creation.WaitAsync(Patience, Token));
            Assert.Equal(1, (await rig.Store.GetJobAsync(job.JobId, Token))!.Version);
            Assert.Equal(1, (await rig.Redis.ExecuteAsync(["LLEN", JobKeys.History(job.JobId)], Token)).AsInt64());
        }
    }

    private static JobRecord NewJob()
    {
        var jobId = Guid.NewGuid().ToString();
        // A backend of its own, so the queue holds this job only.
        return new JobRecord(jobId, JobStatuses.Queued, DateTimeOffset.UtcNow) { BackendAffinity = "batched-" + jobId, QueuedAt = DateTimeOffset.UtcNow };
    }

    // What JobStateMachine writes for a new job: the hash, its indexes and queue place, a history entry.
    internal static JobCommit Creation(JobRecord record, double queueScore)
    {
        var state = new JobEngineState { QueueScore = queueScore };
        return new JobCommit().WriteJob(record, state, expectedVersion: null).IndexNewJob(record, state)
            .AddHistory(record.JobId, JobHistoryEvents.Submitted, JobHistory.Submitted(record), record.SubmittedAt, new JobEngineOptions());
    }

    private sealed class Rig : IAsyncDisposable
    {
        private readonly RedisConnection _connection;
        private readonly RedisSubscriber _subscriber;
        private readonly ScriptCounter _counted;

        private Rig(RedisOptions options)
        {
            _connection = new RedisConnection(options);
            _subscriber = new RedisSubscriber(options);
            _counted = new ScriptCounter(_connection);
            Store = new JobStore(_counted, NullLogger<JobStore>.Instance);
            Batcher = new JobCreationBatcher(Store, new SchedulerWake(_connection, _subscriber, NullLogger<SchedulerWake>.Instance),
                NullLogger<JobCreationBatcher>.Instance);
        }

        public IRedisConnection Redis => _connection;

        public JobStore Store { get; }

        public JobCreationBatcher Batcher { get; }

        public int Scripts => _counted.Scripts;

        /// <summary>Scripts wait, unsent, until <see cref="ReleaseScripts"/>.</summary>
        public void HoldScripts() => _counted.Hold();

        public void ReleaseScripts() => _counted.Release();

        public static Task<Rig> StartAsync(GarnetFixture garnet) =>
            Task.FromResult(new Rig(new RedisOptions { ConnectionString = garnet.ConnectionString }));

        public async ValueTask DisposeAsync()
        {
            await Batcher.DisposeAsync();
            await _subscriber.DisposeAsync();
            await _connection.DisposeAsync();
        }
    }
}
