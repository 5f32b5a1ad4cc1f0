using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// The built model at run time: starts each resource once everything it waits for is healthy, keeps its
/// processes running (restarts with back-off), and stops everything in reverse start order.
/// </summary>
public sealed class DistributedApplication : IAsyncDisposable
{
    public static readonly TimeSpan WaitTimeout = TimeSpan.FromSeconds(120);
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan WaitPollInterval = TimeSpan.FromMilliseconds(500);
    private const int OutputLinesInErrors = 20;

    private readonly IReadOnlyList<Resource> _resources;
    private readonly IReadOnlyList<IReadOnlyList<Resource>> _levels;
    private readonly AppHostSettings _settings;
    private readonly StatusBoard _board;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<Resource, List<ReplicaStatus>> _replicas = [];
    private readonly Dictionary<Resource, List<ProcessReplica>> _processes = [];
    private readonly Dictionary<Resource, Task> _launches = [];
    private readonly List<Task> _supervisors = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _stopRefresh = new();
    private readonly Lock _gate = new();
    private Task _refresh = Task.CompletedTask;
    private bool _stopped;

    internal DistributedApplication(
        IReadOnlyList<Resource> resources, IReadOnlyList<IReadOnlyList<Resource>> levels, AppHostSettings settings,
        StatusBoard board, ILoggerFactory loggerFactory, ILogger logger, TimeProvider time)
    {
        (_resources, _levels, _settings, _board, _loggerFactory, _logger, _time) = (resources, levels, settings, board, loggerFactory, logger, time);
        foreach (var resource in levels.SelectMany(level => level))
        {
            var count = resource is ExecutableResource executable ? executable.Replicas : resource.Endpoints.Count;
            _replicas[resource] = [.. Enumerable.Range(0, count).Select(i => new ReplicaStatus(resource, i, count, board.OnChanged, time))];
            _replicas[resource].ForEach(board.Add);
        }
    }

    public static DistributedApplicationBuilder CreateBuilder(string[] args) =>
        new(AppHostSettings.Load(args), Console.Out, interactive: !Console.IsOutputRedirected, TimeProvider.System);

    public IReadOnlyList<ReplicaStatus> Replicas(string name) => _replicas.First(r => r.Key.Name == name).Value;

    /// <summary>Runs until Ctrl+C or SIGTERM. 0 after a clean stop, 1 when start-up failed.</summary>
    public async Task<int> RunAsync()
    {
        using var stop = new CancellationTokenSource();
        void RequestStop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, RequestStop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, RequestStop);
        // Closing the terminal must stop the suite as cleanly as Ctrl+C; the children no longer see the hang-up.
        using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, RequestStop);
        var exitCode = 0;
        try
        {
            await StartAsync(stop.Token);
            _logger.LogInformation("All resources are up. Press Ctrl+C to stop.");
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            _logger.LogInformation("Stopping…");
        }
        catch (AppHostStartupException ex)
        {
            _logger.LogError("Start-up failed: {Reason}", ex.Message);
            exitCode = 1;
        }

        await StopAsync();
        return exitCode;
    }

    /// <summary>Starts every resource in WaitFor order and returns once all are healthy.</summary>
    /// <exception cref="AppHostStartupException">A resource failed or did not become healthy in time.</exception>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_settings.DataDirectory);
        Directory.CreateDirectory(Path.Combine(_settings.LogDirectory, "apphost"));
        _refresh = _board.RefreshAsync(_stopRefresh.Token);
        using var starting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        foreach (var resource in _levels.SelectMany(level => level))
        {
            _launches[resource] = LaunchWhenReadyAsync(resource, starting.Token);
        }

        // The first failure cancels the other waits, so its message is the one reported.
        async Task FailFast(Task wait)
        {
            try
            {
                await wait;
            }
            catch (AppHostStartupException)
            {
                await starting.CancelAsync();
                throw;
            }
        }

        await Task.WhenAll(_resources.Select(r => FailFast(WaitUntilReadyAsync(r, waitingResource: null, starting.Token))));
    }

    /// <summary>Stops everything that was started: dependents first (the Gateway), the Redis it all needs last.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        await _stopping.CancelAsync();
        foreach (var level in _levels.Reverse())
        {
            List<ProcessReplica> processes;
            lock (_gate)
            {
                processes = [.. level.SelectMany(r => _processes.GetValueOrDefault(r) ?? [])];
            }

            await Task.WhenAll(processes.Select(p => p.StopAsync(StopGrace)));
            foreach (var status in level.Where(r => r is ExternalResource).SelectMany(r => _replicas[r]))
            {
                status.Set(ResourceState.Exited, null);
            }
        }

        List<Task> supervisors;
        lock (_gate)
        {
            supervisors = [.. _supervisors];
        }

        await Task.WhenAll(supervisors);
        await _stopRefresh.CancelAsync();
        await _refresh;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stopping.Dispose();
        _stopRefresh.Dispose();
        _loggerFactory.Dispose();
    }

    private async Task LaunchWhenReadyAsync(Resource resource, CancellationToken cancellationToken)
    {
        await Task.WhenAll(resource.WaitsFor.Select(d => WaitUntilReadyAsync(d, resource, cancellationToken)));
        cancellationToken.ThrowIfCancellationRequested();
        if (resource is ExecutableResource executable)
        {
            var processes = _replicas[resource].Select(status => new ProcessReplica(
                executable,
                status,
                ResourceEnvironment.For(executable, status.Index, _settings, Environment.ProcessId, Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT")),
                Path.Combine(_settings.LogDirectory, "apphost", $"{resource.Name}-{status.Index}.out"),
                _loggerFactory.CreateLogger(resource.Name),
                _time)).ToList();
            lock (_gate)
            {
                _processes[resource] = processes;
                _supervisors.AddRange(processes.Select(p => Task.Run(() => p.RunAsync(_stopping.Token), CancellationToken.None)));
            }

            return;
        }

        foreach (var status in _replicas[resource])
        {
            var endpoint = resource.Endpoints[status.Index];
            if (resource.HealthProbe is { } probe)
            {
                status.Set(ResourceState.Starting, null);
                lock (_gate)
                {
                    _supervisors.Add(HealthMonitor.RunAsync(
                        status, probe, endpoint, null, ResourceState.Unhealthy, _logger, _time, _stopping.Token));
                }
            }
            else
            {
                status.Set(ResourceState.Running, null);
            }
        }
    }

    /// <summary>Waits until every replica of <paramref name="resource"/> is healthy (running, without a
    /// health check), at most <see cref="WaitTimeout"/> after it was launched.</summary>
    private async Task WaitUntilReadyAsync(Resource resource, Resource? waitingResource, CancellationToken cancellationToken)
    {
        await _launches[resource];
        var deadline = _time.GetUtcNow() + WaitTimeout;
        while (true)
        {
            var replicas = _replicas[resource];
            if (replicas.All(r => r.IsReady))
            {
                return;
            }

            if (replicas.FirstOrDefault(r => r.State == ResourceState.Failed) is { } failed)
            {
                throw new AppHostStartupException(Describe(failed, $"'{failed.Name}' failed: {failed.LastProblem}", waitingResource));
            }

            if (_time.GetUtcNow() >= deadline)
            {
                var late = replicas.First(r => !r.IsReady);
                throw new AppHostStartupException(Describe(late,
                    $"'{late.Name}' did not become healthy within {WaitTimeout.TotalSeconds:0} s (state {late.State}; {late.LastProblem ?? "no health answer yet"})",
                    waitingResource));
            }

            await Task.Delay(WaitPollInterval, _time, cancellationToken);
        }
    }

    private string Describe(ReplicaStatus replica, string problem, Resource? waitingResource)
    {
        var consequence = waitingResource is null ? "" : $", so '{waitingResource.Name}' was not started";
        var output = replica.RecentOutput().TakeLast(OutputLinesInErrors).ToList();
        if (output.Count == 0)
        {
            return $"{problem}{consequence}.";
        }

        var file = Path.Combine(_settings.LogDirectory, "apphost", $"{replica.Resource.Name}-{replica.Index}.out");
        return $"{problem}{consequence}. Its last output ({file}):{Environment.NewLine}  " +
            string.Join($"{Environment.NewLine}  ", output);
    }
}
