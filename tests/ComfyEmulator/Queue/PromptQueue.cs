using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Realtime;

namespace DirectorsConsole.ComfyEmulator.Queue;

/// <summary>The prompt the worker is running, with the switches that stop it.</summary>
public sealed class RunningPrompt(long taskId, QueueItem item) : IDisposable
{
    private readonly CancellationTokenSource interrupt = new();
    private readonly CancellationTokenSource abandon = new();

    public long TaskId { get; } = taskId;
    public QueueItem Item { get; } = item;

    /// <summary>The node that is executing, for a socket that re-connects mid-run (ComfyUI's <c>last_node_id</c>).</summary>
    public string? LastNodeId { get; set; }

    public bool IsInterrupted => interrupt.IsCancellationRequested;

    /// <summary>Set by a restart: the run is dropped without another message or a history entry.</summary>
    public bool IsAbandoned => abandon.IsCancellationRequested;

    public CancellationToken InterruptToken => interrupt.Token;
    public CancellationToken AbandonToken => abandon.Token;

    public void Interrupt() => interrupt.Cancel();

    public void Abandon() => abandon.Cancel();

    public void Dispose()
    {
        interrupt.Dispose();
        abandon.Dispose();
    }
}

/// <summary>
/// ComfyUI's <c>PromptQueue</c> and <c>PromptServer.number</c>: a min-heap of pending prompts, the one running prompt,
/// and the history. Every change that ComfyUI reports with a <c>status</c> broadcast does so here, inside the lock,
/// so sockets see the counts in the order the changes happened. <c>queue_remaining</c> counts the running prompt.
/// </summary>
public sealed class PromptQueue(ClientHub hub)
{
    /// <summary>ComfyUI's <c>MAXIMUM_HISTORY_SIZE</c>.</summary>
    private const int MaximumHistorySize = 10_000;

    private readonly Lock gate = new();
    private readonly PromptHeap pending = new();
    private readonly OrderedDictionary<string, HistoryEntry> history = [];
    private RunningPrompt? running;
    private TaskCompletionSource itemAdded = NewSignal();
    private long number;
    private long sequence;
    private long taskCounter;

    public int Remaining
    {
        get { lock (gate) return RemainingLocked; }
    }

    public RunningPrompt? Current
    {
        get { lock (gate) return running; }
    }

    /// <summary>The next server-assigned <c>number</c>; ComfyUI counts every POST /prompt that does not bring its own.</summary>
    public long NextNumber() => Interlocked.Increment(ref number) - 1;

    public long NextSequence() => Interlocked.Increment(ref sequence);

    public void Put(QueueItem item)
    {
        TaskCompletionSource added;
        lock (gate)
        {
            pending.Push(item);
            BroadcastStatusLocked();
            added = itemAdded;
            itemAdded = NewSignal();
        }
        added.TrySetResult();
    }

    /// <summary>Waits for the lowest-numbered pending prompt and makes it the running one.</summary>
    public async Task<RunningPrompt> TakeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task added;
            lock (gate)
            {
                if (pending.Count > 0)
                {
                    running = new RunningPrompt(taskCounter++, pending.Pop());
                    BroadcastStatusLocked();
                    return running;
                }
                added = itemAdded.Task;
            }
            await added.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Records the finished prompt in the history, unless a restart dropped it meanwhile.</summary>
    public bool TaskDone(RunningPrompt task, HistoryEntry entry)
    {
        lock (gate)
        {
            if (!ReferenceEquals(running, task)) return false;
            running = null;
            history[task.Item.PromptId] = entry;
            if (history.Count > MaximumHistorySize) history.RemoveAt(0);
            BroadcastStatusLocked();
            return true;
        }
    }

    public (IReadOnlyList<QueueItem> Running, IReadOnlyList<QueueItem> Pending) Snapshot()
    {
        lock (gate) return (running is null ? [] : [running.Item], [.. pending.RawOrder]);
    }

    public void Wipe()
    {
        lock (gate) WipeLocked();
    }

    /// <summary>Removes the first pending prompt with this id; the running prompt is never touched.</summary>
    public void Delete(string promptId)
    {
        lock (gate)
        {
            var index = pending.IndexOf(promptId);
            if (index < 0) return;
            // ComfyUI wipes (one status) and then reports again (a second status) when the last item goes.
            if (pending.Count == 1) WipeLocked();
            else pending.RemoveAtAndHeapify(index);
            BroadcastStatusLocked();
        }
    }

    /// <summary>Interrupts the running prompt: any when <paramref name="promptId"/> is null, else only that one.</summary>
    public void Interrupt(string? promptId)
    {
        lock (gate)
        {
            if (running is not null && (promptId is null || running.Item.PromptId == promptId)) running.Interrupt();
        }
    }

    /// <summary><c>GET /history</c>: oldest first; <c>max_items</c> without <c>offset</c> gives the newest ones.</summary>
    public JsonObject History(int? maxItems, int offset)
    {
        lock (gate)
        {
            if (offset < 0 && maxItems is { } newest) offset = history.Count - newest;
            var result = new JsonObject();
            var index = 0;
            foreach (var (promptId, entry) in history)
            {
                if (index++ < offset) continue;
                if (maxItems is { } limit && result.Count >= limit) break;
                result[promptId] = entry.ToJson();
            }
            return result;
        }
    }

    public JsonObject HistoryOf(string promptId)
    {
        lock (gate) return history.TryGetValue(promptId, out var entry) ? new JsonObject { [promptId] = entry.ToJson() } : [];
    }

    public void DeleteHistory(string promptId)
    {
        lock (gate) history.Remove(promptId);
    }

    public void WipeHistory()
    {
        lock (gate) history.Clear();
    }

    /// <summary>What a ComfyUI restart loses: the queue, the running prompt, the history and the prompt counter.</summary>
    public void Restart()
    {
        lock (gate)
        {
            pending.Clear();
            history.Clear();
            running?.Abandon();
            running = null;
            number = 0;
        }
    }

    private int RemainingLocked => pending.Count + (running is null ? 0 : 1);

    private void WipeLocked()
    {
        pending.Clear();
        BroadcastStatusLocked();
    }

    private void BroadcastStatusLocked() => hub.Send(new StatusMessage(RemainingLocked), sid: null);

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
