using System.Threading.Channels;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// The engine's background work. On every replica: render events from pub/sub are applied, and on every (re)subscribe
/// the prompt states are reconciled, because pub/sub loses what arrives while a subscriber is away. On the replica
/// holding the <see cref="SchedulerLease"/> (renewed by a loop of its own): the scheduler (woken by
/// <see cref="SchedulerWake"/>, by taking the lease, or every <see cref="JobEngineOptions.SchedulerInterval"/>),
/// timeouts, the periodic reconcile, recovery of unconfirmed dispatches, finishing cancelled groups and the retention cleanup.
/// </summary>
public sealed class JobEngineWorker(
    IEventBus eventBus,
    SchedulerWake schedulerWake,
    RenderEventApplier applier,
    RenderEventLanes lanes,
    RedisJobEventStream streams,
    JobScheduler scheduler,
    JobMaintenance maintenance,
    SchedulerLease lease,
    IOptions<JobEngineOptions> options,
    TimeProvider timeProvider,
    ILogger<JobEngineWorker> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ReleaseTimeout = TimeSpan.FromSeconds(2);

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    // Render events per job that have arrived and wait for their job's lane (applied together when it gets to them).
    private readonly Dictionary<string, List<RenderEvent>> _arrived = new(StringComparer.Ordinal);

    // 1 when this replica has just become the scheduler and has not yet taken over what the previous one left.
    private int _tenureStarted;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var subscriptions = await SubscribeAsync(stoppingToken);
        if (subscriptions is null)
        {
            return;
        }

        await ReconcileAsync("start", stoppingToken);
        try
        {
            await Task.WhenAll(KeepLeaseAsync(stoppingToken), RunLeaderRoundsAsync(stoppingToken));
        }
        finally
        {
            await ReleaseLeaseAsync();
            await lanes.WhenIdleAsync(ReleaseTimeout);
        }
    }

    /// <summary>Renews the lease (or, on a standby, tries to take it) every <see cref="JobEngineOptions.LeaderRenewalInterval"/>,
    /// apart from the rounds, so a long round never lets it lapse and a standby takes over soon after the holder dies.</summary>
    private async Task KeepLeaseAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.LeaderRenewalInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            var wasHeld = lease.IsHeld;
            try
            {
                var held = await lease.TryHoldAsync(stoppingToken);
                if (held && !wasHeld)
                {
                    logger.LogInformation("This replica ({Holder}) now runs the job scheduler", lease.HolderId);
                    Interlocked.Exchange(ref _tenureStarted, 1);
                    Wake();
                }
                else if (!held && wasHeld)
                {
                    logger.LogWarning("The scheduler lease passed to another replica; this one stops scheduling");
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The tenure has ended (the lease ends it on any failure): another replica may take over.
                logger.Log(wasHeld ? LogLevel.Warning : LogLevel.Debug, ex,
                    "Renewing the scheduler lease failed{Consequence}; trying again in {Interval}",
                    wasHeld ? "; this replica stops scheduling until it holds the lease again" : "", interval);
            }

            try
            {
                await Task.Delay(interval, timeProvider, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>The scheduler and the maintenance work, while this replica holds the lease, under the lease's
    /// <see cref="SchedulerLease.Term"/> so that a round stops when the tenure ends.</summary>
    private async Task RunLeaderRoundsAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var lastTimeouts = DateTimeOffset.MinValue;
        var lastReconcile = timeProvider.GetUtcNow();
        var lastCleanup = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            if (lease.IsHeld)
            {
                using var tenure = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, lease.Term);
                var token = tenure.Token;
                var takingOver = Interlocked.Exchange(ref _tenureStarted, 0) == 1;
                try
                {
                    if (takingOver)
                    {
                        // Only the scheduler dispatches, and the previous one's tenure has ended (it stops before its lease
                        // can expire): a dispatch still unconfirmed was left by it, perhaps dying between recording the
                        // dispatch and enqueueing the command. Its slot would hold a node back until the periodic recovery;
                        // it is sent again now (same prompt id, so a command already enqueued is not added twice).
                        await scheduler.RecoverDispatchesAsync(TimeSpan.Zero, token);
                        takingOver = false;
                    }

                    await scheduler.RunPassAsync(token);
                    var now = timeProvider.GetUtcNow();
                    if (now - lastTimeouts >= settings.TimeoutCheckInterval)
                    {
                        lastTimeouts = now;
                        await maintenance.CheckTimeoutsAsync(token);
                    }

                    if (now - lastReconcile >= settings.ReconcileInterval)
                    {
                        lastReconcile = now;
                        await applier.ReconcileAsync(token);
                        await scheduler.RecoverDispatchesAsync(settings.DispatchRecoveryAfter, token);
                        await maintenance.FinishCancelledGroupsAsync(token);
                        await maintenance.SweepQueuedAsync(token);
                    }

                    if (now - lastCleanup >= settings.CleanupInterval)
                    {
                        lastCleanup = now;
                        await maintenance.CleanupAsync(token);
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    logger.LogWarning("The scheduler lease could not be renewed in time; the round stopped part-way");
                }
                catch (Exception ex)
                {
                    // Redis down or a record that cannot be read; the next round tries again.
                    logger.LogError(ex, "A round of the job scheduler failed; retrying");
                }
                finally
                {
                    if (takingOver)
                    {
                        // The takeover did not finish; the next round of this tenure does it.
                        Interlocked.CompareExchange(ref _tenureStarted, 1, 0);
                    }
                }
            }

            await WaitForWakeAsync(Min(settings.SchedulerInterval, settings.TimeoutCheckInterval), stoppingToken);
        }
    }

    /// <summary>Subscribes to render events and scheduler wake-ups, retrying while Redis is unavailable; null when stopped first.</summary>
    private async Task<Subscriptions?> SubscribeAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var renderEvents = await eventBus.SubscribeAsync<RenderEvent>(
                    RenderChannels.RenderEvents, OnRenderEventAsync, token => ReconcileAsync("resubscribe", token), stoppingToken);
                try
                {
                    var wake = await schedulerWake.ListenAsync(Wake, stoppingToken);
                    return new Subscriptions(renderEvents, wake);
                }
                catch
                {
                    // The retry subscribes again: a second handler on the channel would see every event twice.
                    await renderEvents.DisposeAsync();
                    throw;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return null;
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "Subscribing to render events failed; retrying");
                try
                {
                    await Task.Delay(RetryDelay, timeProvider, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
            }
        }

        return null;
    }

    // The subscription's handler: hands the event to its job's lane and returns, so the next message (often another
    // job's) is applied without waiting for this one's commit. Events of a job that arrive while its lane is busy wait
    // together and are applied together, in their order. A preview changes no job: it goes to this replica's watchers
    // at once when that needs no Redis read, else it takes its place in the lane (its group is looked up there). Either
    // way it reaches them before the job's later events are applied, so a watcher sees a prompt's last preview (a
    // SaveImageWebsocket output) before its completion, as the node sent them.
    private Task OnRenderEventAsync(RenderEvent renderEvent, CancellationToken cancellationToken)
    {
        if (renderEvent.Kind == RenderEventKinds.Preview && streams.TryForwardPreviewNow(renderEvent))
        {
            return Task.CompletedTask;
        }

        var laneOf = renderEvent.Kind == RenderEventKinds.Preview ? renderEvent.JobId : RenderEventApplier.Applies(renderEvent);
        if (laneOf is { } jobId)
        {
            bool first;
            lock (_arrived)
            {
                first = !_arrived.TryGetValue(jobId, out var waiting);
                if (first)
                {
                    _arrived[jobId] = waiting = [];
                }

                waiting!.Add(renderEvent);
            }

            if (first)
            {
                lanes.Post(jobId, () => ApplyAsync(jobId, cancellationToken));
            }
        }

        return Task.CompletedTask;
    }

    private async Task ApplyAsync(string jobId, CancellationToken cancellationToken)
    {
        List<RenderEvent>? renderEvents;
        lock (_arrived)
        {
            _arrived.Remove(jobId, out renderEvents);
        }

        if (renderEvents is null)
        {
            return;
        }

        // The events between two previews are applied together; each preview is handed on where it came.
        var start = 0;
        for (var i = 0; i <= renderEvents.Count; i++)
        {
            if (i < renderEvents.Count && renderEvents[i].Kind != RenderEventKinds.Preview)
            {
                continue;
            }

            if (i > start)
            {
                await ApplyTogetherAsync(jobId, renderEvents.GetRange(start, i - start), cancellationToken);
            }

            if (i < renderEvents.Count)
            {
                await streams.ForwardPreviewAsync(renderEvents[i]);
            }

            start = i + 1;
        }
    }

    private async Task ApplyTogetherAsync(string jobId, List<RenderEvent> renderEvents, CancellationToken cancellationToken)
    {
        try
        {
            var results = await applier.ApplyAsync(renderEvents, cancellationToken);
            if (results.LastOrDefault(r => r.Job is not null)?.Job is { } job)
            {
                // Its previews then find their group's watchers at once, ahead of a completion another replica commits.
                streams.RememberGroupOf(jobId, job.Record.GroupId);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The prompt state keeps the last event; the reconcile applies it later.
            logger.LogError(ex, "Applying {Count} render events ({Kinds}) of prompt {PromptId} to job {JobId} failed",
                renderEvents.Count, string.Join(", ", renderEvents.Select(e => e.Kind)), renderEvents[^1].PromptId, jobId);
        }
    }

    private async Task ReconcileAsync(string why, CancellationToken cancellationToken)
    {
        try
        {
            await applier.ReconcileAsync(cancellationToken);
            Wake();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogError(ex, "Reconciling jobs with their prompt states ({Why}) failed; the leader reconciles again periodically", why);
        }
    }

    private void Wake() => _wake.Writer.TryWrite(true);

    private async Task WaitForWakeAsync(TimeSpan timeout, CancellationToken stoppingToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        wait.CancelAfter(timeout);
        try
        {
            await _wake.Reader.ReadAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            // The interval passed (or the service stops; the loop checks).
        }
    }

    private async Task ReleaseLeaseAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(ReleaseTimeout);
            await lease.ReleaseAsync(timeout.Token);
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Could not release the scheduler lease; it expires by itself");
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private sealed class Subscriptions(IAsyncDisposable renderEvents, IAsyncDisposable wake) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await renderEvents.DisposeAsync();
            await wake.DisposeAsync();
        }
    }
}
