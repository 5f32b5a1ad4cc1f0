namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>One moment of a prompt's progress.</summary>
public sealed record ProgressSnapshot(double Percent, string? Node, string? NodeClass, int? StepsDone, int? StepsTotal);

/// <summary>
/// Progress over the whole prompt, not just the current sampler: the nodes done among the nodes that will run
/// (all nodes of the prompt minus those ComfyUI reported as cached), plus the current node's
/// <c>value/max</c>. It never goes backwards and stays below 100 until the prompt has completed.
/// </summary>
public sealed class PromptProgress(IReadOnlyDictionary<string, string> nodeClasses)
{
    private readonly HashSet<string> _cached = new(StringComparer.Ordinal);
    private readonly HashSet<string> _done = new(StringComparer.Ordinal);
    private string? _current;
    private int? _value;
    private int? _max;
    private double _percent;

    public string? CurrentNode => _current;

    public void OnCached(IEnumerable<string> nodes) => _cached.UnionWith(nodes);

    /// <summary>A node started: the one before it is done.</summary>
    public ProgressSnapshot OnExecuting(string node)
    {
        if (_current is not null && _current != node)
        {
            _done.Add(_current);
        }

        if (_current != node)
        {
            _value = null;
            _max = null;
        }

        _current = node;
        return Snapshot();
    }

    public ProgressSnapshot OnProgress(string? node, int value, int max)
    {
        if (node is not null && node != _current)
        {
            OnExecuting(node);
        }

        _value = value;
        _max = max;
        return Snapshot();
    }

    private ProgressSnapshot Snapshot()
    {
        var toRun = Math.Max(1, nodeClasses.Keys.Count(id => !_cached.Contains(id)));
        var fraction = _max is > 0 && _value is { } value ? Math.Clamp((double)value / _max.Value, 0, 1) : 0;
        var done = _done.Count(id => !_cached.Contains(id));
        var percent = Math.Min(99.9, 100.0 * (done + fraction) / toRun);
        _percent = Math.Max(_percent, Math.Round(percent, 1));
        return new ProgressSnapshot(
            _percent,
            _current,
            _current is not null && nodeClasses.TryGetValue(_current, out var nodeClass) ? nodeClass : null,
            _value,
            _max);
    }
}
