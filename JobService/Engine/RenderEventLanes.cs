namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// Runs the applying of render events one lane per job: the events of one job one after the other, in the order they
/// came, and those of different jobs at the same time. The pub/sub subscription hands every message to its handler one
/// at a time, so without lanes a replica applied every job's events in one line, each waiting for the commits of all
/// before it; with them a burst of events from many nodes is applied (and its commits share Garnet's append-only-file
/// writes) at once. Ordering across jobs was never promised: two replicas already apply the same events side by side,
/// and every change is versioned.
/// </summary>
public sealed class RenderEventLanes(ILogger<RenderEventLanes> logger)
{
    private readonly Dictionary<string, Queue<Func<Task>>> _lanes = new(StringComparer.Ordinal);
    private TaskCompletionSource _idle = NewIdle(completed: true);

    /// <summary>Queues <paramref name="work"/> behind the work already queued for <paramref name="key"/>; it must handle
    /// its own failures (an exception it lets out is dropped).</summary>
    public void Post(string key, Func<Task> work)
    {
        Queue<Func<Task>>? lane;
        lock (_lanes)
        {
            if (_lanes.TryGetValue(key, out lane))
            {
                lane.Enqueue(work);
                return;
            }

            if (_lanes.Count == 0)
            {
                _idle = NewIdle(completed: false);
            }

            _lanes[key] = lane = new Queue<Func<Task>>();
            lane.Enqueue(work);
        }

        _ = Task.Run(() => DrainAsync(key, lane));
    }

    /// <summary>Completes when no lane has work left (or the timeout passed): for a stopping host.</summary>
    public Task WhenIdleAsync(TimeSpan timeout)
    {
        lock (_lanes)
        {
            return _idle.Task.WaitAsync(timeout).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task DrainAsync(string key, Queue<Func<Task>> lane)
    {
        while (true)
        {
            Func<Task> next;
            lock (_lanes)
            {
                if (!lane.TryPeek(out next!))
                {
                    _lanes.Remove(key);
                    if (_lanes.Count == 0)
                    {
                        _idle.TrySetResult();
                    }

                    return;
                }
            }

            try
            {
                await next();
            }
            catch (Exception ex)
            {
                // The work handles its own failures; should one get out, the lane goes on with the next.
                logger.LogError(ex, "Render event work for {Key} failed", key);
            }

            lock (_lanes)
            {
                lane.Dequeue();
            }
        }
    }

    private static TaskCompletionSource NewIdle(bool completed)
    {
        var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed)
        {
            idle.SetResult();
        }

        return idle;
    }
}
