using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// A whole suite a test talks to through its Gateway, however it was started: in this process on
/// Aspire.Hosting.Testing (<see cref="SuiteApp"/>) or as a separate AppHost process (<see cref="SuiteProcess"/>).
/// What a test needs from either: the Gateway, the suite's working directory, its health, and the processes it
/// started (to kill one, or to prove none is left).
/// </summary>
public abstract class RunningSuite : IAsyncDisposable
{
    /// <summary>Starts tried in all when another test's server takes the Gateway's port before the Gateway binds it.</summary>
    protected const int MaxStarts = 3;

    private static readonly string[] Services = ["job-service", "backend-service", "gallery-service", "path-service"];

    protected RunningSuite(string workingDirectory, int port)
    {
        WorkingDirectory = workingDirectory;
        Port = port;
        Gateway = CreateGatewayClient(port);
    }

    /// <summary>Where config.yaml, data and logs live.</summary>
    public string WorkingDirectory { get; }

    /// <summary>The Gateway's port on 127.0.0.1, chosen at run time.</summary>
    public int Port { get; private set; }

    public HttpClient Gateway { get; private set; }

    /// <summary>Points <see cref="Gateway"/> at another port, for a start tried again after <see cref="GatewayPortTakenException"/>.</summary>
    protected void MoveGateway(int port)
    {
        Gateway.Dispose();
        Port = port;
        Gateway = CreateGatewayClient(port);
    }

    private static HttpClient CreateGatewayClient(int port) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Every process this suite started (services, Garnet, render nodes, and the launchers in between).</summary>
    public abstract IReadOnlyList<(int Pid, string CommandLine)> FindSuiteProcesses();

    /// <summary>What the suite printed or logged, for failure messages.</summary>
    public abstract string Output { get; }

    /// <summary>Throws when the suite has ended by itself, so a wait fails at once with the reason.</summary>
    protected abstract void ThrowIfEnded();

    /// <summary>The first line of <see cref="DescribeProcesses"/>: the suite's host.</summary>
    protected abstract string DescribeHost();

    /// <summary>Polls the Gateway's <c>/health</c> until <paramref name="accept"/> holds for its status. The answer must
    /// come from this suite's Gateway: the port was free when it was chosen, often minutes before the Gateway bound it,
    /// and a server another test started meanwhile answers <c>/health</c> too (<see cref="GatewayPortTakenException"/>).</summary>
    public async Task<JsonObject> WaitForHealthAsync(Func<string?, bool> accept, TimeSpan timeout, CancellationToken cancellationToken, Func<JsonObject, bool>? also = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonObject? last = null;
        var ownerChecked = false;
        while (DateTime.UtcNow < deadline)
        {
            ThrowIfEnded();
            try
            {
                last = await Gateway.GetFromJsonAsync<JsonObject>("/health", cancellationToken);
                var accepted = last is not null && accept((string?)last["status"]) && (also?.Invoke(last) ?? true);
                if (accepted || !ownerChecked)
                {
                    await ThrowIfGatewayPortTakenAsync(cancellationToken);
                    ownerChecked = true;
                }

                if (accepted)
                {
                    return last!;
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

    /// <summary>Throws <see cref="GatewayPortTakenException"/> when a process that is not this suite's listens on
    /// <see cref="Port"/>. The suite's list of its processes can lag a moment behind a process it has just started, so
    /// a listener counts as foreign only when it is still not among them after two seconds.</summary>
    private async Task ThrowIfGatewayPortTakenAsync(CancellationToken cancellationToken)
    {
        for (var look = 1; ; look++)
        {
            if (LoopbackListeners.FindPid(Port) is not { } pid || FindSuiteProcesses().Any(p => p.Pid == pid))
            {
                return;
            }

            if (look == 5)
            {
                throw new GatewayPortTakenException(Port, pid, CommandLineOf(pid));
            }

            await Task.Delay(500, cancellationToken);
        }
    }

    public static bool AllServicesHealthy(JsonObject health) =>
        Services.All(name => (string?)health["services"]?[name] == "healthy");

    /// <summary>The PID of the process running <paramref name="program"/> itself (see <see cref="Runs"/>).</summary>
    public int FindServicePid(string program) => FindSuiteProcesses().First(p => Runs(p.CommandLine, program)).Pid;

    /// <summary>The run state (R, S, T stopped, Z zombie…) of the host and each suite process, for failure messages.</summary>
    public string DescribeProcesses()
    {
        var lines = new StringBuilder(DescribeHost()).Append('\n');
        foreach (var (pid, commandLine) in FindSuiteProcesses())
        {
            lines.Append("  pid ").Append(pid).Append(" state ").Append(StateOf(pid)).Append(' ').AppendLine(commandLine);
        }

        return lines.ToString();
    }

    /// <summary>The services' log lines (from the suite's log directory) that mention any of <paramref name="ids"/>, the
    /// last <paramref name="max"/> of them with their file, for a failure message about a job or prompt.</summary>
    public string LogLinesAbout(IReadOnlyList<string> ids, int max = 40)
    {
        var logs = Path.Combine(WorkingDirectory, "logs");
        if (!Directory.Exists(logs))
        {
            return "(no log directory)";
        }

        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(logs, "*.log").Order(StringComparer.Ordinal))
        {
            // The services still write to their logs: read them shared.
            using var reader = new StreamReader(new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
            while (reader.ReadLine() is { } line)
            {
                if (ids.Any(id => line.Contains(id, StringComparison.Ordinal)))
                {
                    found.Add($"{Path.GetFileName(file)}: {line}");
                }
            }
        }

        return found.Count == 0 ? "(no log line mentions them)" : string.Join('\n', found.TakeLast(max));
    }

    /// <summary>The state letter from <c>/proc/{pid}/stat</c>, or "gone".</summary>
    protected static string StateOf(int pid)
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

    /// <summary>The command line of a running process, or null when it has gone.</summary>
    protected static string? CommandLineOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').TrimEnd();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>True while <paramref name="pid"/> runs: it exists and is not a zombie waiting to be reaped.</summary>
    public static bool IsRunning(int pid) => StateOf(pid) is not ("gone" or "Z" or "X");

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
        Testing.Eventually.ReturnsAsync(
            () => Task.FromResult<IReadOnlyList<(int Pid, string CommandLine)>>([.. FindSuiteProcesses().Where(p => IsRunning(p.Pid))]),
            left => left.Count == 0, timeout);

    public static void Kill(int pid) => SendSignal(pid, Sigkill);

    /// <summary>Stops a process from running without ending it (SIGSTOP): it stops answering but does not exit.</summary>
    public static void Freeze(int pid) => SendSignal(pid, Sigstop);

    public abstract ValueTask DisposeAsync();

    protected const int Sigkill = 9;
    protected const int Sigterm = 15;
    private const int Sigstop = 19;

    protected static void SendSignal(int pid, int signal) => _ = NativeKill(pid, signal);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int NativeKill(int pid, int signal);
}

/// <summary>The port chosen for a suite's Gateway is held by a process of something else (another test's server took it
/// between the choice and the Gateway's start): what answers there is not this suite. A start tries again on another port.</summary>
public sealed class GatewayPortTakenException(int port, int pid, string? commandLine)
    : Exception($"Port {port}, chosen for this suite's Gateway, is held by pid {pid} ({commandLine ?? "gone"}), which is not part of this suite.");
