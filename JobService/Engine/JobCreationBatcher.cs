using System.Diagnostics;
using System.Threading.Channels;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// Group commit of new jobs and groups. Every submit on this replica hands its creation to one writer, which takes
/// what has queued up meanwhile (at most <see cref="MaxCommits"/> creations, <see cref="MaxPlaces"/> queue places; a
/// larger group goes alone; at most <see cref="MaxBatchesInFlight"/> batches at once) and stores it with two commands:
/// one increment that takes the batch's places in the queue, and one <see cref="JobStore.ChangeScript"/> that checks
/// each creation on its own and writes those that pass together (<see cref="JobStore.CreateManyAsync"/>). Then one
/// wake-up of the scheduler for the whole batch. Each write command costs the store (a Garnet commits its append-only
/// file for every one, scripts' included), and each write waits for the file before it answers (Redis's
/// <c>appendfsync always</c>, or the client's <c>COMMITAOF</c> after it on the embedded Garnet): a batch waits for the
/// disk once, and writes each index and queue with one command for all its jobs.
/// </summary>
/// <remarks>
/// Each waiter gets its own outcome, and only after the script that stored its creation has answered, so an accepted
/// job is durable. The script is safe to send again (each creation recognises its own token), so a batch whose reply
/// was lost is resent by the Redis client; a batch the server refused with an error (which may have stopped the
/// script midway, after some creations were written) is sent again one creation at a time, so that the error fails
/// only the creation it belongs to, and the creations written before it answer as stored. A batch that cannot reach
/// Redis fails every creation in it with that error, as a submit of its own would have.
/// </remarks>
public sealed class JobCreationBatcher : IAsyncDisposable
{
    /// <summary>The most creations one script stores.</summary>
    public const int MaxCommits = 128;

    /// <summary>The most queue places (jobs) one batch takes, unless a single group needs more.</summary>
    public const int MaxPlaces = 512;

    /// <summary>Batches sent before the first of them has been answered. While they wait for the server's disk, the
    /// next submits queue up for the next batch; Garnet commits writes that arrive during one disk write with the next.</summary>
    public const int MaxBatchesInFlight = 4;

    /// <summary>How long one batch may take before its waiters are failed (the Redis client gives up well before:
    /// its command timeout, or the outage grace while it reconnects).</summary>
    public static readonly TimeSpan BatchTimeout = TimeSpan.FromMinutes(2);

    private readonly JobStore _store;
    private readonly SchedulerWake _wake;
    private readonly ILogger<JobCreationBatcher> _logger;
    private readonly Channel<Creation> _pending = Channel.CreateUnbounded<Creation>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _inFlight = new(MaxBatchesInFlight);
    private readonly Task _writer;

    public JobCreationBatcher(JobStore store, SchedulerWake wake, ILogger<JobCreationBatcher> logger)
    {
        _store = store;
        _wake = wake;
        _logger = logger;
        // The writer serves every request: it must not carry the trace of the one that happened to create it.
        using (ExecutionContext.SuppressFlow())
        {
            _writer = Task.Run(WriteAsync);
        }
    }

    /// <summary>Stores a creation with the next batch: <paramref name="build"/> gets <paramref name="places"/>
    /// consecutive places in the queue at <paramref name="priority"/> and returns the commit that creates it. True when
    /// it was stored, false when its job or group already existed (a commit that is not a creation's conflicts).</summary>
    public async Task<bool> CreateAsync(int priority, int places, Func<IReadOnlyList<double>, JobCommit> build)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(places, 1);
        var creation = new Creation(priority, places, build, Activity.Current?.Context ?? default);
        if (!_pending.Writer.TryWrite(creation))
        {
            throw new ObjectDisposedException(nameof(JobCreationBatcher), "JobService is stopping; nothing was stored.");
        }

        // Not cancelled with the request: once handed over, the creation is stored or failed with its batch, and its
        // caller learns which.
        return await creation.Done.Task == CommitStatus.Committed;
    }

    public async ValueTask DisposeAsync()
    {
        // Requests have been drained by then; whatever is still queued is stored before the writer stops.
        _pending.Writer.TryComplete();
        try
        {
            await _writer.WaitAsync(BatchTimeout);
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("The job creation writer did not finish within {Timeout}; stopping it", BatchTimeout);
        }

        await _stopping.CancelAsync();
        _stopping.Dispose();
    }

    private async Task WriteAsync()
    {
        var reader = _pending.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stopping.Token))
            {
                // A free place first, then the batch: what queues up meanwhile goes with it.
                await _inFlight.WaitAsync(_stopping.Token);
                var batch = new List<Creation>();
                var places = 0;
                while (batch.Count < MaxCommits && reader.TryPeek(out var next) && (batch.Count == 0 || places + next.Places <= MaxPlaces))
                {
                    reader.TryRead(out _);
                    batch.Add(next);
                    places += next.Places;
                }

                // Not awaited: the next batch may be sent while this one waits for the server (StoreAsync answers
                // every waiter, whatever happens, and never throws).
                _ = StoreAndReleaseAsync(batch, places);
            }

            // Every batch sent is answered before the writer ends.
            for (var i = 0; i < MaxBatchesInFlight; i++)
            {
                await _inFlight.WaitAsync(_stopping.Token);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            while (reader.TryRead(out var left))
            {
                left.Done.TrySetException(new ObjectDisposedException(nameof(JobCreationBatcher), "JobService is stopping; nothing was stored."));
            }
        }
    }

    private async Task StoreAndReleaseAsync(List<Creation> batch, int places)
    {
        try
        {
            await StoreAsync(batch, places);
        }
        finally
        {
            _inFlight.Release();
        }
    }

    private async Task StoreAsync(List<Creation> batch, int places)
    {
        // The batch's Redis commands are spans of the first submit's trace, linked to every other submit in it.
        using var activity = JobTelemetry.Source.StartActivity("store job creations", ActivityKind.Internal, batch[0].Context,
            links: batch.Skip(1).Where(c => c.Context != default).Select(c => new ActivityLink(c.Context)));
        activity?.SetTag("jobs.creations", batch.Count);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(BatchTimeout);
        var token = timeout.Token;
        var built = new List<(Creation Creation, JobCommit Commit)>(batch.Count);
        try
        {
            var sequence = await _store.ReserveQueueSequencesAsync(places, token);
            foreach (var creation in batch)
            {
                var scores = Enumerable.Range(0, creation.Places).Select(i => JobStore.QueueScore(creation.Priority, sequence + i)).ToList();
                sequence += creation.Places;
                try
                {
                    built.Add((creation, creation.Build(scores)));
                }
                catch (Exception ex)
                {
                    creation.Done.TrySetException(ex);
                }
            }

            if (built.Count == 0)
            {
                return;
            }

            IReadOnlyList<CommitResult?> results;
            try
            {
                results = await _store.CreateManyAsync(built.Select(b => b.Commit).ToList(), token);
            }
            catch (RedisServerException ex)
            {
                _logger.LogWarning(ex, "Redis refused a batch of {Count} job creations; storing them one at a time", built.Count);
                results = await StoreOneByOneAsync(built, token);
            }

            var stored = false;
            for (var i = 0; i < built.Count; i++)
            {
                if (results[i] is { } result)
                {
                    stored |= result.Status == CommitStatus.Committed;
                    built[i].Creation.Done.TrySetResult(result.Status);
                }
            }

            if (stored)
            {
                await _wake.WakeAsync(token);
            }
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "A batch of {Count} job creations could not be stored; each submit is answered with the error", batch.Count);
            foreach (var creation in batch)
            {
                creation.Done.TrySetException(ex);
            }
        }
    }

    /// <summary>Each creation's commit sent alone: one written before the batch failed recognises its token and
    /// answers as stored; one the server refuses fails alone (its result is null, its waiter has the error).</summary>
    private async Task<IReadOnlyList<CommitResult?>> StoreOneByOneAsync(List<(Creation Creation, JobCommit Commit)> built, CancellationToken token)
    {
        var results = new CommitResult?[built.Count];
        for (var i = 0; i < built.Count; i++)
        {
            try
            {
                results[i] = await _store.CommitAsync(built[i].Commit, token);
            }
            catch (RedisServerException ex)
            {
                built[i].Creation.Done.TrySetException(ex);
            }
        }

        return results;
    }

    private sealed class Creation(int priority, int places, Func<IReadOnlyList<double>, JobCommit> build, ActivityContext context)
    {
        /// <summary>The submit's trace.</summary>
        public ActivityContext Context { get; } = context;

        public int Priority { get; } = priority;

        public int Places { get; } = places;

        public Func<IReadOnlyList<double>, JobCommit> Build { get; } = build;

        public TaskCompletionSource<CommitStatus> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
