using System.Collections.Concurrent;

namespace DirectorsConsole.RenderAgent;

/// <summary>A task the agent holds, from the moment it took it until the orchestrator accepted (or ignored) its result.</summary>
public sealed class HeldTask(AgentTask task)
{
    private readonly CancellationTokenSource _cancelled = new();
    private readonly SemaphoreSlim _signal = new(0);

    public AgentTask Task { get; } = task;

    public string Id => Task.TaskId;

    /// <summary>Cancelled when the orchestrator asked for the task to be stopped.</summary>
    public CancellationToken Cancelled => _cancelled.Token;

    /// <summary>The node's socket said the prompt ended (or reconnected, so a message may be lost).</summary>
    public bool EndSeen { get; private set; }

    public void Cancel()
    {
        try
        {
            _cancelled.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Released meanwhile.
        }

        Wake();
    }

    public void SignalEnd()
    {
        EndSeen = true;
        Wake();
    }

    /// <summary>Wakes the runner to look at the prompt on the node now.</summary>
    public void Wake()
    {
        if (_signal.CurrentCount == 0)
        {
            _signal.Release();
        }
    }

    /// <summary>Waits for a wake-up or <paramref name="timeout"/>, whichever first.</summary>
    public Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _signal.WaitAsync(timeout, cancellationToken);
}

/// <summary>
/// The tasks the agent holds, by task id (= ComfyUI prompt id). One entry per task: a task offered again while held is
/// never run a second time. Heartbeats report every held task, including those whose result waits to be delivered.
/// </summary>
public sealed class HeldTasks(ILogger<HeldTasks> logger)
{
    private readonly ConcurrentDictionary<string, HeldTask> _tasks = new(StringComparer.Ordinal);

    public int Count => _tasks.Count;

    public IReadOnlyList<string> Ids => _tasks.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>Holds <paramref name="task"/>; null when it is held already.</summary>
    public HeldTask? TryHold(AgentTask task)
    {
        var held = new HeldTask(task);
        return _tasks.TryAdd(task.TaskId, held) ? held : null;
    }

    public void Release(string taskId) => _tasks.TryRemove(taskId, out _);

    public HeldTask? Find(string? taskId) => taskId is not null && _tasks.TryGetValue(taskId, out var held) ? held : null;

    public void Cancel(string taskId, string why)
    {
        if (Find(taskId) is { } held && !held.Cancelled.IsCancellationRequested)
        {
            logger.LogInformation("Cancelling task {TaskId} of job {JobId}: {Why}", taskId, held.Task.JobId, why);
            held.Cancel();
        }
    }

    /// <summary>Wakes every runner to look at its prompt (the node's socket reconnected: messages may be lost).</summary>
    public void WakeAll()
    {
        foreach (var held in _tasks.Values)
        {
            held.Wake();
        }
    }
}
