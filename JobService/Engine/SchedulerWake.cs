using DirectorsConsole.Messaging;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// The scheduler's wake-up call (<see cref="JobKeys.SchedulerWake"/>): any replica that queues a job or frees a slot
/// rings it, and the replica running the scheduler listens, so a pass starts at once instead of at its next interval.
/// A listener in the ringing process is called at once, before the publish, so a replica that runs the scheduler
/// itself does not wait for its own ring to come back from Redis; that ring then names this process, whose listeners
/// let it pass (hearing it too cost a second pass per ring, reading every backend and queue head again to find nothing).
/// A lost ring only delays a pass until that interval.
/// </summary>
public sealed class SchedulerWake(IRedisConnection redis, IRedisSubscriber subscriber, ILogger<SchedulerWake> logger)
{
    private readonly List<Action> _local = [];

    private static readonly byte[] Ring = "1"u8.ToArray();

    // Sent as the ring when this process's own listeners were called already; any other ring is "1".
    private readonly byte[] _heardHere = System.Text.Encoding.ASCII.GetBytes("wake:" + Guid.NewGuid().ToString("N"));

    /// <summary>Tells the scheduler (on whichever replica runs it) to look at its queues now.</summary>
    public async Task WakeAsync(CancellationToken cancellationToken)
    {
        Action[] local;
        lock (_local)
        {
            local = [.. _local];
        }

        foreach (var onWake in local)
        {
            onWake();
        }

        try
        {
            await redis.PublishAsync(JobKeys.SchedulerWake, local.Length > 0 ? _heardHere : Ring, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogDebug(ex, "Could not wake the scheduler; it looks at its queue at its next interval");
        }
    }

    /// <summary>Calls <paramref name="onWake"/> at each wake-up (at once for one rung in this process), and after each
    /// resubscribe (wake-ups may have been missed meanwhile); disposing the handle stops listening.</summary>
    public async Task<IAsyncDisposable> ListenAsync(Action onWake, CancellationToken cancellationToken)
    {
        var subscription = await subscriber.SubscribeAsync(JobKeys.SchedulerWake, (_, ring, _) =>
        {
            if (!ring.Span.SequenceEqual(_heardHere))
            {
                onWake();
            }

            return Task.CompletedTask;
        }, _ =>
        {
            onWake();
            return Task.CompletedTask;
        }, cancellationToken: cancellationToken);
        lock (_local)
        {
            _local.Add(onWake);
        }

        return new Listening(this, onWake, subscription);
    }

    private sealed class Listening(SchedulerWake owner, Action onWake, IAsyncDisposable subscription) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            lock (owner._local)
            {
                owner._local.Remove(onWake);
            }

            return subscription.DisposeAsync();
        }
    }
}
