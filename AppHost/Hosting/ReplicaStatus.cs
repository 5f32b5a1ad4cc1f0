namespace DirectorsConsole.AppHost.Hosting;

public enum ResourceState
{
    Waiting,
    Starting,
    Running,
    Healthy,
    Unhealthy,
    Restarting,
    Exited,
    Failed,
}

/// <summary>One row of the status table, as it was at one moment.</summary>
public sealed record ReplicaSnapshot(string Name, ResourceState State, int? Pid, string Url, int Restarts);

/// <summary>
/// The live state of one replica of one resource, updated by its supervisor and health monitor and read
/// by the status table and by resources waiting for it. Thread-safe.
/// </summary>
public sealed class ReplicaStatus(Resource resource, int index, int replicaCount, Action<ReplicaStatus> changed, TimeProvider time)
{
    public const int OutputLinesKept = 50;

    private readonly Lock _gate = new();
    private readonly Queue<string> _output = new();
    private ResourceState _state = ResourceState.Waiting;
    private int? _pid;
    private int _restarts;
    private DateTimeOffset? _healthySince;
    private string? _lastProblem;

    public Resource Resource { get; } = resource;

    public int Index { get; } = index;

    public string Name { get; } = replicaCount > 1 ? $"{resource.Name}#{index}" : resource.Name;

    public ResourceState State
    {
        get { lock (_gate) { return _state; } }
    }

    /// <summary>The last failed health check or start error, for error messages.</summary>
    public string? LastProblem
    {
        get { lock (_gate) { return _lastProblem; } }
    }

    /// <summary>How long the replica has been healthy (or running, when it has no health check).</summary>
    public TimeSpan HealthyFor
    {
        get { lock (_gate) { return _healthySince is { } since ? time.GetUtcNow() - since : TimeSpan.Zero; } }
    }

    public bool IsReady => State is ResourceState.Healthy or ResourceState.Running;

    public ReplicaSnapshot Snapshot()
    {
        lock (_gate)
        {
            var url = Resource.Endpoints.Count > Index ? Resource.Endpoints[Index].GetLeftPart(UriPartial.Authority) : "";
            return new ReplicaSnapshot(Name, _state, _pid, url, _restarts);
        }
    }

    public void Set(ResourceState state, int? pid, string? problem = null)
    {
        lock (_gate)
        {
            if (state is ResourceState.Healthy or ResourceState.Running)
            {
                _healthySince ??= time.GetUtcNow();
            }
            else
            {
                _healthySince = null;
            }

            var unchanged = _state == state && _pid == pid;
            (_state, _pid) = (state, pid);
            _lastProblem = problem ?? _lastProblem;
            if (unchanged)
            {
                return;
            }
        }

        changed(this);
    }

    public void CountRestart()
    {
        lock (_gate)
        {
            _restarts++;
        }
    }

    public void AddOutput(string line)
    {
        lock (_gate)
        {
            _output.Enqueue(line);
            if (_output.Count > OutputLinesKept)
            {
                _output.Dequeue();
            }
        }
    }

    public IReadOnlyList<string> RecentOutput()
    {
        lock (_gate)
        {
            return [.. _output];
        }
    }
}
