using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using DirectorsConsole.Hosting;

namespace DirectorsConsole.Testing;

/// <summary>The server implementations the tests run against.</summary>
public enum RedisServerKind
{
    Garnet,
    Redis,
}

/// <summary>
/// A real Redis-compatible server (embedded Garnet, or Debian's redis-server) on a free loopback port,
/// for tests. The process is killed on dispose, and on process exit as a last resort, so a failed test run
/// leaves no server behind.
/// </summary>
public sealed class RedisServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly ConcurrentDictionary<RedisServerProcess, byte> Running = new();
    private static readonly Lazy<string?> RedisServerPath = new(() => FindOnPath("redis-server"));

    private readonly string _fileName;
    private readonly IReadOnlyList<string> _arguments;
    private readonly StringBuilder _output = new();
    private Process? _process;

    static RedisServerProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var server in Running.Keys)
            {
                server.KillNow();
            }
        };
    }

    private RedisServerProcess(RedisServerKind kind, int port, string fileName, IReadOnlyList<string> arguments)
    {
        Kind = kind;
        Port = port;
        _fileName = fileName;
        _arguments = arguments;
    }

    public RedisServerKind Kind { get; }

    public int Port { get; }

    /// <summary>The connection string for this server in the format the Redis client reads.</summary>
    public string ConnectionString => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>True when Debian's redis-server is on PATH.</summary>
    public static bool IsRedisServerAvailable => RedisServerPath.Value is not null;

    public static Task<RedisServerProcess> StartAsync(RedisServerKind kind, string? dataDir = null, CancellationToken cancellationToken = default) =>
        kind == RedisServerKind.Garnet ? StartGarnetAsync(dataDir, cancellationToken) : StartRedisAsync(dataDir, cancellationToken);

    /// <summary>Starts the garnet-server the build downloaded; with <paramref name="dataDir"/> it keeps an
    /// append-only file there and recovers from it on restart.</summary>
    public static async Task<RedisServerProcess> StartGarnetAsync(string? dataDir = null, CancellationToken cancellationToken = default)
    {
        var serverDll = GarnetCommandLine.LocateServerAssembly(typeof(RedisServerProcess).Assembly);
        var port = TestPorts.GetFreeTcpPort();
        var server = new RedisServerProcess(RedisServerKind.Garnet, port, "dotnet", GarnetCommandLine.BuildArguments(serverDll, port, dataDir));
        await server.StartProcessAsync(cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary>Starts redis-server; throws <see cref="InvalidOperationException"/> when it is not installed
    /// (check <see cref="IsRedisServerAvailable"/> first).</summary>
    public static async Task<RedisServerProcess> StartRedisAsync(string? dataDir = null, CancellationToken cancellationToken = default)
    {
        var path = RedisServerPath.Value
            ?? throw new InvalidOperationException("redis-server is not on PATH; install it (apt-get install redis-server) to run these tests.");
        var port = TestPorts.GetFreeTcpPort();
        List<string> arguments = ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", ""];
        if (dataDir is null)
        {
            arguments.AddRange(["--appendonly", "no"]);
        }
        else
        {
            Directory.CreateDirectory(dataDir);
            arguments.AddRange(["--appendonly", "yes", "--dir", dataDir]);
        }

        var server = new RedisServerProcess(RedisServerKind.Redis, port, path, arguments);
        await server.StartProcessAsync(cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary>Stops the server (the port stays reserved for <see cref="RestartAsync"/>).</summary>
    public Task StopAsync() => KillAsync();

    /// <summary>Kills the server and every process it started.</summary>
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

    /// <summary>Stops the server if it runs and starts it again on the same port, as a server restart looks
    /// to its clients.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await KillAsync().ConfigureAwait(false);
        await StartProcessAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await KillAsync().ConfigureAwait(false);

    private async Task StartProcessAsync(CancellationToken cancellationToken)
    {
        // The port of a killed server can take a moment to be released; a second try covers that.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await StartOnceAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && !cancellationToken.IsCancellationRequested)
            {
                await KillAsync().ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task StartOnceAsync(CancellationToken cancellationToken)
    {
        lock (_output)
        {
            _output.Clear();
        }

        var startInfo = new ProcessStartInfo(_fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in _arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        _process = process;
        Running[this] = 0;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                throw new InvalidOperationException(
                    $"{Kind} exited with code {process.ExitCode} before answering PING on port {Port}. Output:\n{Output}");
            }

            if (await AnswersPingAsync(cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }

        KillNow();
        throw new TimeoutException($"{Kind} did not answer PING on port {Port} within {StartTimeout.TotalSeconds:0} s. Output:\n{Output}");
    }

    /// <summary>What the server printed so far (bounded, for error messages).</summary>
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

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length < 64 * 1024)
            {
                _output.AppendLine(line);
            }
        }
    }

    // A raw PING, so starting a server does not depend on the client under test.
    private async Task<bool> AnswersPingAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", Port, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync("*1\r\n$4\r\nPING\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            var buffer = new byte[64];
            var read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
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
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It exited between the check and the kill.
        }
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);
}
