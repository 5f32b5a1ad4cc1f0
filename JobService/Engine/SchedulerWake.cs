using DirectorsConsole.Messaging;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// The scheduler's wake-up call (<see cref="JobKeys.SchedulerWake"/>): any replica that queues a job or frees a slot
/// rings it, and the replica running the scheduler listens, so a pass starts at once instead of at its next interval.
/// A lost ring only delays a pass until that interval.
/// </summary>
public sealed class SchedulerWake(IRedisConnection redis, IRedisSubscriber subscriber, ILogger<SchedulerWake> logger)
{
    /// <summary>Tells the scheduler (on whichever replica runs it) to look at its queues now.</summary>
    public async Task WakeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await redis.PublishAsync(JobKeys.SchedulerWake, "1", cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogDebug(ex, "Could not wake the scheduler; it looks at its queue at its next interval");
        }
    }

    /// <summary>Calls <paramref name="onWake"/> at each wake-up, and after each resubscribe (wake-ups may have been
    /// missed meanwhile); disposing the handle stops listening.</summary>
    public Task<IAsyncDisposable> ListenAsync(Action onWake, CancellationToken cancellationToken) =>
        subscriber.SubscribeAsync(JobKeys.SchedulerWake, (_, _, _) =>
        {
            onWake();
            return Task.CompletedTask;
        }, _ =>
        {
            onWake();
            return Task.CompletedTask;
        }, cancellationToken: cancellationToken);
}
