using System.Diagnostics;
using System.Reflection;
using System.Text;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// The whole suite started as the README does (<c>dotnet run --project AppHost</c>, here the already built
/// AppHost so the test does not rebuild while other test projects run, with or without the Aspire dashboard), in a
/// private working directory (config.yaml, data and logs live there) with the Gateway on a free port. Every process
/// the AppHost starts (Aspire's orchestrator, and through it every service) inherits a marker variable, so the test
/// can find them and prove none is left behind.
/// Most tests run the suite in the test process instead (<see cref="SuiteApp"/>); this one is for what only a
/// separate AppHost process shows: what a stop signal or a <c>kill -9</c> of the AppHost leaves behind, a full
/// restart of the AppHost process, the AppHost's own command line and console, and the Aspire dashboard (the
/// testing builder runs without it).
/// </summary>
public sealed class SuiteProcess : RunningSuite
{
    private const string MarkerVariable = "DC_TEST_SUITE_ID";

    private readonly StringBuilder _output = new();
    private readonly string _marker = Guid.NewGuid().ToString("n");
    private Process? _appHost;
    private DateTime? _stopSignalledAt;

    public SuiteProcess(string workingDirectory, params string[] arguments)
        : base(workingDirectory, TestPorts.GetFreeTcpPort()) =>
        Arguments = arguments;

    public IReadOnlyList<string> Arguments { get; }

    /// <summary>Runs the suite with the Aspire dashboard, as <c>dotnet run --project AppHost</c> does, on loopback ports
    /// chosen at start (<see cref="DashboardUrl"/>), open to anonymous browsers and with its telemetry API unsecured.</summary>
    public bool WithDashboard { get; init; }

    /// <summary>The dashboard's address once started with <see cref="WithDashboard"/>.</summary>
    public Uri? DashboardUrl { get; private set; }

    public override string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            StartAppHost();
            try
            {
                // Every project starts through `dotnet run --no-build`; on a loaded 2-core machine that alone can take minutes.
                await WaitForHealthAsync(status => status == "healthy", TimeSpan.FromMinutes(5), cancellationToken);
                return;
            }
            catch (GatewayPortTakenException) when (attempt < MaxStarts)
            {
                EndEveryProcess();
                MoveGateway(TestPorts.GetFreeTcpPort());
            }
        }
    }

    private void StartAppHost()
    {
        var startInfo = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = WorkingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.ArgumentList.Add(LocateAppHost());
        if (WithDashboard)
        {
            ConfigureDashboard(startInfo.Environment);
        }
        else
        {
            startInfo.ArgumentList.Add("--no-dashboard");
        }

        foreach (var argument in Arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment["ORCHESTRATOR_PORT"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        startInfo.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        startInfo.Environment[MarkerVariable] = _marker;
        startInfo.Environment["ORCHESTRATOR_WORKFLOWS_DIR"] = SuiteApp.WorkflowLibrary;
        startInfo.Environment.Remove("ConnectionStrings__redis");
        startInfo.Environment.Remove("ORCHESTRATOR_CONFIG");

        _appHost = Process.Start(startInfo) ?? throw new InvalidOperationException("The AppHost did not start.");
        _appHost.OutputDataReceived += (_, e) => Append(e.Data);
        _appHost.ErrorDataReceived += (_, e) => Append(e.Data);
        _appHost.BeginOutputReadLine();
        _appHost.BeginErrorReadLine();
    }

    /// <summary>What the AppHost's launch profile gives <c>dotnet run</c> (the dashboard's own address, its OTLP
    /// collector and the resource service Aspire serves it), on free loopback ports instead of the profile's fixed ones.</summary>
    private void ConfigureDashboard(IDictionary<string, string?> environment)
    {
        static string Loopback(int port) => $"http://127.0.0.1:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

        DashboardUrl = new Uri(Loopback(TestPorts.GetFreeTcpPort()));
        environment["ASPNETCORE_URLS"] = DashboardUrl.ToString().TrimEnd('/');
        environment["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = Loopback(TestPorts.GetFreeTcpPort());
        environment["ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL"] = Loopback(TestPorts.GetFreeTcpPort());
        environment["ASPIRE_ALLOW_UNSECURED_TRANSPORT"] = "true";
        // No browser token to log in with, and the telemetry API answers without a key: both listen on loopback only.
        environment["ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS"] = "true";
        environment["ASPIRE_DASHBOARD_API_ENABLED"] = "true";
    }

    protected override void ThrowIfEnded()
    {
        if (_appHost is { HasExited: true })
        {
            throw new InvalidOperationException($"The AppHost exited with {_appHost.ExitCode}.\n{Output}");
        }
    }

    protected override string DescribeHost() => $"AppHost pid {_appHost?.Id} state {(_appHost is null ? "-" : StateOf(_appHost.Id))}";

    /// <summary>Processes started for this suite (the AppHost's children), found through the marker variable.</summary>
    public override IReadOnlyList<(int Pid, string CommandLine)> FindSuiteProcesses()
    {
        var found = new List<(int, string)>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid) || pid == _appHost?.Id)
            {
                continue;
            }

            try
            {
                var environment = File.ReadAllText(Path.Combine(directory, "environ"));
                if (environment.Contains($"{MarkerVariable}={_marker}\0", StringComparison.Ordinal))
                {
                    found.Add((pid, File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ')));
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked at it.
            }
        }

        return found;
    }

    /// <summary>The AppHost's own PID, once started.</summary>
    public int? AppHostPid => _appHost?.Id;

    /// <summary>How long ago <see cref="StopAsync"/> sent SIGTERM.</summary>
    public TimeSpan SinceStopSignal => DateTime.UtcNow - (_stopSignalledAt ?? DateTime.UtcNow);

    /// <summary>Stops the suite as Ctrl+C or a service manager would, with SIGTERM, and waits for the AppHost.</summary>
    public async Task<int> StopAsync(CancellationToken cancellationToken)
    {
        if (_appHost is null || _appHost.HasExited)
        {
            return _appHost?.ExitCode ?? 0;
        }

        _stopSignalledAt = DateTime.UtcNow;
        SendSignal(_appHost.Id, Sigterm);
        await _appHost.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
        return _appHost.ExitCode;
    }

    public override async ValueTask DisposeAsync()
    {
        EndEveryProcess();
        Gateway.Dispose();
        await Task.CompletedTask;
    }

    /// <summary>Stops the AppHost (SIGTERM, then a kill after 30 s) and kills whatever it started that is still there.</summary>
    private void EndEveryProcess()
    {
        if (_appHost is { HasExited: false })
        {
            SendSignal(_appHost.Id, Sigterm);
            if (!_appHost.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                _appHost.Kill(entireProcessTree: true);
            }
        }

        // Whatever the outcome of the test, nothing it started may outlive it.
        foreach (var (pid, _) in FindSuiteProcesses())
        {
            Kill(pid);
        }

        _appHost?.Dispose();
        _appHost = null;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static string LocateAppHost()
    {
        var configuration = typeof(SuiteProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var path = Path.Combine(SuiteApp.RepositoryRoot, "AppHost", "bin", configuration, "net10.0", "DirectorsConsole.AppHost.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first; the AppHost is missing.", path);
    }
}
