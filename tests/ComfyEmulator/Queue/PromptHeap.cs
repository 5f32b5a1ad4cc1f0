namespace DirectorsConsole.ComfyEmulator.Queue;

/// <summary>
/// A binary min-heap that moves items exactly as Python's <c>heapq</c> does, so the raw array ComfyUI returns as
/// <c>queue_pending</c> (unsorted) comes out in the same order.
/// </summary>
public sealed class PromptHeap
{
    private readonly List<QueueItem> items = [];

    public int Count => items.Count;

    public IReadOnlyList<QueueItem> RawOrder => items;

    public void Push(QueueItem item)
    {
        items.Add(item);
        SiftDown(0, items.Count - 1);
    }

    public QueueItem Pop()
    {
        var last = items[^1];
        items.RemoveAt(items.Count - 1);
        if (items.Count == 0) return last;
        var first = items[0];
        items[0] = last;
        SiftUp(0);
        return first;
    }

    public void Clear() => items.Clear();

    public int IndexOf(string promptId) => items.FindIndex(item => item.PromptId == promptId);

    /// <summary><c>queue.pop(x); heapq.heapify(queue)</c>.</summary>
    public void RemoveAtAndHeapify(int index)
    {
        items.RemoveAt(index);
        for (var i = items.Count / 2 - 1; i >= 0; i--) SiftUp(i);
    }

    private void SiftDown(int start, int position)
    {
        var item = items[position];
        while (position > start)
        {
            var parent = (position - 1) >> 1;
            if (item.CompareTo(items[parent]) >= 0) break;
            items[position] = items[parent];
            position = parent;
        }
        items[position] = item;
    }

    private void SiftUp(int position)
    {
        var end = items.Count;
        var start = position;
        var item = items[position];
        var child = 2 * position + 1;
        while (child < end)
        {
            var right = child + 1;
            if (right < end && items[child].CompareTo(items[right]) >= 0) child = right;
            items[position] = items[child];
            position = child;
            child = 2 * position + 1;
        }
        items[position] = item;
        SiftDown(start, position);
    }
}
