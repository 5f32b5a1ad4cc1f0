using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// The whole suite run by the AppHost's own Program in this process, on Aspire.Hosting.Testing, without the
/// dashboard: the same resources, crash restarts and ordered shutdown as <c>dotnet run --project AppHost</c>, with
/// the Gateway on a port chosen at run time and config.yaml, data and logs in a private working directory. The
/// processes it started are the ones Aspire reports for its resources (their <c>executable.pid</c>) and theirs.
/// </summary>
public sealed class SuiteApp : RunningSuite
{
    public const string GatewayResource = "gateway";

    /// <summary>The AppHost reads <c>ORCHESTRATOR_CONFIG</c> from the process environment while its Program builds the
    /// model; suites built at the same time would read each other's.</summary>
    private static readonly SemaphoreSlim BuildingModel = new(1, 1);

    private readonly DistributedApplication _app;
    private readonly ConcurrentDictionary<string, ResourceSeen> _resources = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopWatching = new();
    private readonly Task _watching;

    private SuiteApp(string workingDirectory, int port, DistributedApplication app) : base(workingDirectory, port)
    {
        _app = app;
        _watching = WatchResourcesAsync(_stopWatching.Token);
    }

    /// <summary>The repository's root, where DirectorsConsole.sln is.</summary>
    public static string RepositoryRoot { get; } = LocateRepositoryRoot();

    /// <summary>The repository's workflow library.</summary>
    public static string WorkflowLibrary { get; } = Path.Combine(RepositoryRoot, "workflows");

    public DistributedApplication App => _app;

    public override string Output =>
        string.Join('\n', _resources.Values.OrderBy(r => r.Name, StringComparer.Ordinal)
            .Select(r => $"{r.Name}: {r.Snapshot.State?.Text} {r.Snapshot.HealthStatus} exit {r.Snapshot.ExitCode}"));

    /// <summary>
    /// Starts the suite in <paramref name="workingDirectory"/> with a config.yaml there (data, logs and the repository's
    /// workflow library, then <paramref name="configYaml"/>'s top-level settings) and the AppHost's command-line
    /// <paramref name="arguments"/>, and returns once the Gateway reports every service healthy.
    /// </summary>
    public static async Task<SuiteApp> StartAsync(string workingDirectory, IReadOnlyList<string> arguments, CancellationToken cancellationToken, string configYaml = "")
    {
        var configFile = Path.Combine(workingDirectory, "config.yaml");
        await File.WriteAllTextAsync(configFile, $"data_dir: ./data\nlog_dir: ./logs\nworkflows_dir: '{WorkflowLibrary}'\n{configYaml}", cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(workingDirectory, configFile, arguments, cancellationToken);
            }
            catch (GatewayPortTakenException) when (attempt < MaxStarts)
            {
                // Disposed already: started again with the Gateway on another port.
            }
        }
    }

    private static async Task<SuiteApp> StartOnceAsync(string workingDirectory, string configFile, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var port = TestPorts.GetFreeTcpPort();
        string[] args = ["--no-dashboard", "--port", port.ToString(CultureInfo.InvariantCulture), .. arguments];
        IDistributedApplicationTestingBuilder builder;
        await BuildingModel.WaitAsync(cancellationToken);
        var previousConfig = Environment.GetEnvironmentVariable("ORCHESTRATOR_CONFIG");
        try
        {
            Environment.SetEnvironmentVariable("ORCHESTRATOR_CONFIG", configFile);
            builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.DirectorsConsole_AppHost>(args, cancellationToken);
        }
        finally
        {
            Environment.SetEnvironmentVariable("ORCHESTRATOR_CONFIG", previousConfig);
            BuildingModel.Release();
        }

        var app = await builder.BuildAsync(cancellationToken);
        var suite = new SuiteApp(workingDirectory, port, app);
        try
        {
            // Every project starts through `dotnet run --no-build`, each once what it waits for is healthy; on a loaded
            // 2-core machine that alone can take minutes.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromMinutes(10));
            await app.StartAsync(timeout.Token);
            await app.ResourceNotifications.WaitForResourceHealthyAsync(GatewayResource, timeout.Token);
            await suite.WaitForHealthAsync(status => status == "healthy", TimeSpan.FromMinutes(2), cancellationToken, AllServicesHealthy);
            return suite;
        }
        catch
        {
            await suite.DisposeAsync();
            throw;
        }
    }

    /// <summary>Every process Aspire reports for a resource (for a project, the <c>dotnet run</c> launcher) and
    /// every process below it (the service itself).</summary>
    public override IReadOnlyList<(int Pid, string CommandLine)> FindSuiteProcesses()
    {
        var roots = _resources.Values.Select(r => r.Pid).OfType<int>().ToHashSet();
        var parents = new Dictionary<int, int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && ParentOf(pid) is { } parent)
            {
                parents[pid] = parent;
            }
        }

        var found = new List<(int, string)>();
        foreach (var pid in parents.Keys)
        {
            // A parent chain is short; the bound also guards against a pid reused while /proc was read.
            var current = pid;
            for (var depth = 0; depth < 16; depth++)
            {
                if (roots.Contains(current))
                {
                    if (CommandLineOf(pid) is { Length: > 0 } commandLine)
                    {
                        found.Add((pid, commandLine));
                    }

                    break;
                }

                if (!parents.TryGetValue(current, out current))
                {
                    break;
                }
            }
        }

        return found;
    }

    protected override void ThrowIfEnded()
    {
        if (_resources.Values.FirstOrDefault(r => r.Snapshot.State?.Text == KnownResourceStates.FailedToStart) is { } failed)
        {
            throw new InvalidOperationException($"{failed.Name} failed to start.\n{Output}");
        }
    }

    protected override string DescribeHost() => $"AppHost in the test process {Environment.ProcessId}";

    public override async ValueTask DisposeAsync()
    {
        var started = FindSuiteProcesses();
        try
        {
            // Stopping runs the AppHost's hosted services' stop, the ordered shutdown among them.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _app.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // Disposing ends what did not stop in time.
        }
        finally
        {
            await _app.DisposeAsync();
            await _stopWatching.CancelAsync();
            await _watching;
            _stopWatching.Dispose();
            Gateway.Dispose();

            // Whatever the outcome of the test, nothing it started may outlive it.
            foreach (var (pid, _) in started.Where(p => IsRunning(p.Pid)))
            {
                Kill(pid);
            }
        }
    }

    private async Task WatchResourcesAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var update in _app.ResourceNotifications.WatchAsync(cancellationToken))
            {
                _resources[update.ResourceId] = new ResourceSeen(update.Resource.Name, update.Snapshot);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Disposed.
        }
        catch (ObjectDisposedException)
        {
            // The application was disposed first.
        }
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static string LocateRepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "DirectorsConsole.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new DirectoryNotFoundException("DirectorsConsole.sln not found above the test folder.");
    }

    /// <summary>A resource as last reported: its name, state and, while it runs, its process.</summary>
    private sealed record ResourceSeen(string Name, CustomResourceSnapshot Snapshot)
    {
        public bool HasEnded => Snapshot.State?.Text is { } state && KnownResourceStates.TerminalStates.Contains(state);

        public int? Pid =>
            HasEnded ? null
            : Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value switch
            {
                int pid => pid,
                long pid => (int)pid,
                string text when int.TryParse(text, CultureInfo.InvariantCulture, out var pid) => pid,
                _ => null,
            };
    }
}
