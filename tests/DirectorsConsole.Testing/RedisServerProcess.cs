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
/// A real Redis-compatible server (embedded Garnet, or Debian's redis-server) on a free loopback port, for tests.
/// </summary>
public sealed class RedisServerProcess : TestServerProcess
{
    private static readonly Lazy<string?> RedisServerPath = new(() => FindOnPath("redis-server"));

    private RedisServerProcess(RedisServerKind kind, int port, string fileName, IReadOnlyList<string> arguments, bool clientsCommitWrites = false)
        : base(port, fileName, arguments)
    {
        Kind = kind;
        ClientsCommitWrites = clientsCommitWrites;
    }

    public RedisServerKind Kind { get; }

    /// <summary>True for a Garnet keeping an append-only file: run as the AppHost runs it, it does not make a write's
    /// reply wait for the file, so its clients commit after their writes (<c>Redis:CommitWrites</c>).</summary>
    public bool ClientsCommitWrites { get; }

    /// <summary>The connection string for this server in the format the Redis client reads.</summary>
    public string ConnectionString => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>True when Debian's redis-server is on PATH.</summary>
    public static bool IsRedisServerAvailable => RedisServerPath.Value is not null;

    protected override string Description => Kind.ToString();

    public static Task<RedisServerProcess> StartAsync(RedisServerKind kind, string? dataDir = null, CancellationToken cancellationToken = default) =>
        kind == RedisServerKind.Garnet ? StartGarnetAsync(dataDir, cancellationToken) : StartRedisAsync(dataDir, cancellationToken);

    /// <summary>Starts the garnet-server the build downloaded; with <paramref name="dataDir"/> it keeps an
    /// append-only file there and recovers from it on restart, checkpointing every <paramref name="checkpointInterval"/>
    /// (default: the AppHost's), with <paramref name="logMemory"/> of log memory (default: the AppHost's), committing
    /// the file every <paramref name="commitFrequencyMilliseconds"/> besides its clients' commits (default: at every
    /// write, as the AppHost runs it).</summary>
    public static async Task<RedisServerProcess> StartGarnetAsync(
        string? dataDir = null, CancellationToken cancellationToken = default, TimeSpan? checkpointInterval = null, string logMemory = GarnetCommandLine.LogMemory,
        int commitFrequencyMilliseconds = 0)
    {
        var serverDll = GarnetCommandLine.LocateServerAssembly(typeof(RedisServerProcess).Assembly);
        var port = TestPorts.GetFreeTcpPort();
        var server = new RedisServerProcess(RedisServerKind.Garnet, port, "dotnet",
            GarnetCommandLine.BuildArguments(serverDll, port, dataDir, checkpointInterval, logMemory, commitFrequencyMilliseconds), clientsCommitWrites: dataDir is not null);
        await server.StartProcessAsync(cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary>Starts redis-server; throws <see cref="InvalidOperationException"/> when it is not installed
    /// (check <see cref="IsRedisServerAvailable"/> first).</summary>
    /// <param name="moreArguments">Further server options, such as <c>--enable-protected-configs yes</c>.</param>
    public static async Task<RedisServerProcess> StartRedisAsync(
        string? dataDir = null, CancellationToken cancellationToken = default, IReadOnlyList<string>? moreArguments = null)
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

        arguments.AddRange(moreArguments ?? []);
        var server = new RedisServerProcess(RedisServerKind.Redis, port, path, arguments);
        await server.StartProcessAsync(cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary>Stops the server (the port stays reserved for <see cref="TestServerProcess.RestartAsync"/>).</summary>
    public Task StopAsync() => KillAsync();

    /// <summary>A Garnet runs with its thread pool's idle workers not spinning, as the AppHost runs it.</summary>
    protected override void ConfigureStart(System.Diagnostics.ProcessStartInfo startInfo)
    {
        if (Kind == RedisServerKind.Garnet)
        {
            startInfo.Environment[GarnetCommandLine.SpinLimitVariable] = "0";
        }
    }

    // A raw PING, so starting a server does not depend on the client under test.
    protected override async Task<bool> AnswersAsync(CancellationToken cancellationToken)
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

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);
}
