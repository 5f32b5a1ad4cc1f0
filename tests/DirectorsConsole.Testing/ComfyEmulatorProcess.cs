using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;

namespace DirectorsConsole.Testing;

/// <summary>
/// The ComfyUI emulator (tests/ComfyEmulator) as a separate process on a free loopback port, as the AppHost runs
/// it, so a test can stop, kill and restart a render node the way a real one fails. Extra command-line options
/// (<c>--step-delay-ms 20</c>, <c>--os nt</c>…) are passed as given. Killed on dispose, and at process exit as a
/// last resort.
/// </summary>
public sealed class ComfyEmulatorProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly ConcurrentDictionary<ComfyEmulatorProcess, byte> Running = new();
    private readonly IReadOnlyList<string> _options;
    private readonly StringBuilder _output = new();
    private Process? _process;

    static ComfyEmulatorProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var emulator in Running.Keys)
            {
                emulator.KillNow();
            }
        };
    }

    private ComfyEmulatorProcess(int port, IReadOnlyList<string> options)
    {
        Port = port;
        _options = options;
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/");

    /// <summary>A client for the emulator's ComfyUI routes and its <c>/_emulator</c> control routes.</summary>
    public HttpClient Client { get; }

    public int? ProcessId => _process?.Id;

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

    public static async Task<ComfyEmulatorProcess> StartAsync(IReadOnlyList<string>? options = null, CancellationToken cancellationToken = default)
    {
        var emulator = new ComfyEmulatorProcess(TestPorts.GetFreeTcpPort(), options ?? []);
        await emulator.StartProcessAsync(cancellationToken).ConfigureAwait(false);
        return emulator;
    }

    /// <summary>The built emulator assembly (tests/ComfyEmulator/bin/{configuration}/net10.0/ComfyEmulator.dll).</summary>
    public static string LocateAssembly()
    {
        var configuration = typeof(ComfyEmulatorProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "DirectorsConsole.sln")))
        {
            directory = directory.Parent;
        }

        var root = directory?.FullName ?? throw new DirectoryNotFoundException("DirectorsConsole.sln not found above the test folder.");
        var path = Path.Combine(root, "tests", "ComfyEmulator", "bin", configuration, "net10.0", "ComfyEmulator.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("The ComfyUI emulator is not built.", path);
    }

    /// <summary>Kills the emulator (as a crashed or unplugged node); its port stays reserved for <see cref="StartAgainAsync"/>.</summary>
    public async Task KillAsync()
    {
        var process = _process;
        if (process is null)
        {
            return;
        }

        KillNow();
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        process.Dispose();
        _process = null;
        Running.TryRemove(this, out _);
    }

    /// <summary>Starts the emulator again on the same port, with empty queue and history, as a restarted ComfyUI.</summary>
    public async Task StartAgainAsync(CancellationToken cancellationToken = default)
    {
        await KillAsync().ConfigureAwait(false);
        await StartProcessAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync().ConfigureAwait(false);
        Client.Dispose();
    }

    private async Task StartProcessAsync(CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(LocateAssembly());
        info.ArgumentList.Add("--port");
        info.ArgumentList.Add(Port.ToString(CultureInfo.InvariantCulture));
        foreach (var option in _options)
        {
            info.ArgumentList.Add(option);
        }

        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment.Remove("ASPNETCORE_URLS");
        var process = Process.Start(info) ?? throw new InvalidOperationException("The ComfyUI emulator did not start.");
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        Running[this] = 0;

        using var probe = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + StartTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The ComfyUI emulator exited with {process.ExitCode}:\n{Output}");
            }

            try
            {
                using var response = await probe.GetAsync("system_stats", cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // Not listening yet.
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        KillNow();
        throw new TimeoutException($"The ComfyUI emulator did not answer on port {Port} within {StartTimeout.TotalSeconds:0} s:\n{Output}");
    }

    private void KillNow()
    {
        try
        {
            if (_process is { HasExited: false } process)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
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
}
