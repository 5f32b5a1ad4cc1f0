using System.Diagnostics;
using System.Net.Http.Json;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// The whole suite started as the README does (<c>dotnet run --project AppHost</c>, here the already built
/// AppHost so the test does not rebuild while other test projects run, and without the Aspire dashboard), in a
/// private working directory (config.yaml, data and logs live there) with the Gateway on a free port. Every process
/// the AppHost starts (Aspire's orchestrator, and through it every service) inherits a marker variable, so the test
/// can find them and prove none is left behind.
/// </summary>
public sealed class SuiteProcess : IAsyncDisposable
{
    private const string MarkerVariable = "DC_TEST_SUITE_ID";
    private static readonly string[] Services = ["job-service", "backend-service", "gallery-service", "path-service"];

    private readonly StringBuilder _output = new();
    private readonly string _marker = Guid.NewGuid().ToString("n");
    private Process? _appHost;
    private DateTime? _stopSignalledAt;

    public SuiteProcess(string workingDirectory, params string[] arguments)
    {
        WorkingDirectory = workingDirectory;
        Arguments = arguments;
        Port = TestPorts.GetFreeTcpPort();
        Gateway = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public string WorkingDirectory { get; }

    public IReadOnlyList<string> Arguments { get; }

    public int Port { get; }

    public HttpClient Gateway { get; }

    /// <summary>Runs the suite with the Aspire dashboard, as <c>dotnet run --project AppHost</c> does, on loopback ports
    /// chosen at start (<see cref="DashboardUrl"/>), open to anonymous browsers and with its telemetry API unsecured.</summary>
    public bool WithDashboard { get; init; }

    /// <summary>The dashboard's address once started with <see cref="WithDashboard"/>.</summary>
    public Uri? DashboardUrl { get; private set; }

    public string Output
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
        // The repository's workflow library; the AppHost is built to AppHost/bin/{configuration}/net10.0/, four levels below the root.
        startInfo.Environment["ORCHESTRATOR_WORKFLOWS_DIR"] = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(LocateAppHost())!, "..", "..", "..", "..", "workflows"));
        startInfo.Environment.Remove("ConnectionStrings__redis");
        startInfo.Environment.Remove("ORCHESTRATOR_CONFIG");

        _appHost = Process.Start(startInfo) ?? throw new InvalidOperationException("The AppHost did not start.");
        _appHost.OutputDataReceived += (_, e) => Append(e.Data);
        _appHost.ErrorDataReceived += (_, e) => Append(e.Data);
        _appHost.BeginOutputReadLine();
        _appHost.BeginErrorReadLine();

        // Every project starts through `dotnet run --no-build`; on a loaded 2-core machine that alone can take minutes.
        await WaitForHealthAsync(status => status == "healthy", TimeSpan.FromMinutes(5), cancellationToken);
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

    /// <summary>Polls the Gateway's <c>/health</c> until <paramref name="accept"/> holds for its status.</summary>
    public async Task<JsonObject> WaitForHealthAsync(Func<string?, bool> accept, TimeSpan timeout, CancellationToken cancellationToken, Func<JsonObject, bool>? also = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonObject? last = null;
        while (DateTime.UtcNow < deadline)
        {
            if (_appHost is { HasExited: true })
            {
                throw new InvalidOperationException($"The AppHost exited with {_appHost.ExitCode}.\n{Output}");
            }

            try
            {
                last = await Gateway.GetFromJsonAsync<JsonObject>("/health", cancellationToken);
                if (last is not null && accept((string?)last["status"]) && (also?.Invoke(last) ?? true))
                {
                    return last;
                }
            }
            catch (HttpRequestException)
            {
                // The Gateway is not listening yet.
            }

            await Task.Delay(500, cancellationToken);
        }

        throw new TimeoutException(
            $"The suite's health did not reach the expected state; last: {last?.ToJsonString()}\n{DescribeProcesses()}\n{Output}");
    }

    public static bool AllServicesHealthy(JsonObject health) =>
        Services.All(name => (string?)health["services"]?[name] == "healthy");

    /// <summary>Processes started for this suite (the AppHost's children), found through the marker variable.</summary>
    public IReadOnlyList<(int Pid, string CommandLine)> FindSuiteProcesses()
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

    /// <summary>The run state (R, S, T stopped, Z zombie…) of the AppHost and each suite process, for failure messages.</summary>
    public string DescribeProcesses()
    {
        static string StateOf(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            }
            catch (IOException)
            {
                return "gone";
            }
        }

        var lines = new StringBuilder($"AppHost pid {_appHost?.Id} state {(_appHost is null ? "-" : StateOf(_appHost.Id))}\n");
        foreach (var (pid, commandLine) in FindSuiteProcesses())
        {
            lines.Append("  pid ").Append(pid).Append(" state ").Append(StateOf(pid)).Append(' ').AppendLine(commandLine);
        }

        return lines.ToString();
    }

    /// <summary>The AppHost's own PID, once started.</summary>
    public int? AppHostPid => _appHost?.Id;

    /// <summary>True while <paramref name="pid"/> runs: it exists and is not a zombie waiting to be reaped.</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0] != "Z";
        }
        catch (IOException)
        {
            return false;
        }
    }

    public int FindServicePid(string program) => FindSuiteProcesses().First(p => Runs(p.CommandLine, program)).Pid;

    /// <summary>
    /// Whether <paramref name="commandLine"/> is the process of <paramref name="program"/> itself: Aspire starts a
    /// project through <c>dotnet run --no-build --project …</c>, which starts the project's own executable
    /// (<c>bin/…/{program}</c>); Garnet runs as <c>dotnet {program}.dll</c>. The <c>dotnet run</c> wrapper is not it:
    /// killing the wrapper would leave the service running.
    /// </summary>
    public static bool Runs(string commandLine, string program) =>
        !commandLine.Contains(" run ", StringComparison.Ordinal)
        && (Path.GetFileName(commandLine.Split(' ')[0]) == program || commandLine.Contains($"{program}.dll", StringComparison.Ordinal));

    /// <summary>Waits until no process this suite started runs any more, at most <paramref name="timeout"/>.</summary>
    public Task<IReadOnlyList<(int Pid, string CommandLine)>> WaitUntilNoProcessLeftAsync(TimeSpan timeout) =>
        Eventually.ReturnsAsync(
            () => Task.FromResult<IReadOnlyList<(int Pid, string CommandLine)>>([.. FindSuiteProcesses().Where(p => IsRunning(p.Pid))]),
            left => left.Count == 0, timeout);

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

    public static void Kill(int pid) => SendSignal(pid, Sigkill);

    /// <summary>Stops a process from running without ending it (SIGSTOP): it stops answering but does not exit.</summary>
    public static void Freeze(int pid) => SendSignal(pid, Sigstop);

    public async ValueTask DisposeAsync()
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
            SendSignal(pid, Sigkill);
        }

        _appHost?.Dispose();
        Gateway.Dispose();
        await Task.CompletedTask;
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
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "DirectorsConsole.sln")))
        {
            directory = directory.Parent;
        }

        var path = Path.Combine(directory?.FullName ?? throw new DirectoryNotFoundException("DirectorsConsole.sln not found above the test folder."),
            "AppHost", "bin", configuration, "net10.0", "DirectorsConsole.AppHost.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first; the AppHost is missing.", path);
    }

    private const int Sigkill = 9;
    private const int Sigterm = 15;
    private const int Sigstop = 19;

    private static void SendSignal(int pid, int signal) => _ = NativeKill(pid, signal);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int NativeKill(int pid, int signal);
}
