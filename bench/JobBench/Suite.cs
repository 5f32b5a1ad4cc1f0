using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace DirectorsConsole.JobBench;

/// <summary>The built AppHost (same configuration as this benchmark) in a temporary working directory, with the
/// Gateway on a free port and either its two emulated nodes rendering without step delay or the given ComfyUI nodes;
/// stopped with SIGTERM on dispose.</summary>
internal sealed class Suite : IAsyncDisposable
{
    private readonly Process _appHost;
    private readonly string _workingDirectory;
    private readonly string _binaries;
    private readonly string? _redis;
    private readonly string? _redisServer;

    private Suite(Process appHost, string workingDirectory, Uri gateway, string gatewaySecret, string binaries, string? redis, string? redisServer)
    {
        _binaries = binaries;
        _redis = redis;
        _redisServer = redisServer;
        _appHost = appHost;
        _workingDirectory = workingDirectory;
        Gateway = gateway;
        GatewaySecret = gatewaySecret;
    }

    public Uri Gateway { get; }

    /// <summary>This run's gateway secret (set by the benchmark), which a request straight to a service's own port carries.</summary>
    public string GatewaySecret { get; }

    /// <summary>CPU time (user and system) the processes of <paramref name="project"/> (<c>JobService</c>, <c>Gateway</c>)
    /// started from this suite's build have used so far, in milliseconds; NaN where <c>/proc</c> is not there.</summary>
    public double CpuMilliseconds(string project)
    {
        var binary = string.Format(CultureInfo.InvariantCulture, _binaries, project);
        return CpuMillisecondsOf((command, _) => command.Any(part => part == binary || part == binary + ".dll"));
    }

    /// <summary>CPU time (user and system) the suite's Redis server has used so far, in milliseconds: the embedded
    /// Garnet or the <c>--redis-server</c> the AppHost runs (the one working in or under the suite's working directory), or the
    /// <c>--redis</c> server when it listens on this machine (found by its port in <c>/proc/net/tcp</c>); NaN for a
    /// server elsewhere.</summary>
    public double StoreCpuMilliseconds()
    {
        if (_redis is null)
        {
            // redis-server rewrites its command line to "path address", so its name is matched within the first part;
            // it works in its data directory, which is under the suite's.
            var program = _redisServer is null ? "/GarnetServer.dll" : "redis-server";
            return CpuMillisecondsOf((command, directory) => command.Any(part => part.Contains(program, StringComparison.Ordinal))
                && new DirectoryInfo(Path.Combine(directory, "cwd")).LinkTarget is { } workingDirectory
                && (workingDirectory + "/").StartsWith(_workingDirectory + "/", StringComparison.Ordinal));
        }

        return LocalListener(_redis) is { } pid ? CpuMillisecondsOf(Path.Combine("/proc", pid.ToString(CultureInfo.InvariantCulture))) : double.NaN;
    }

    /// <summary>What <see cref="StoreCpuMilliseconds"/> measures, for the figures' labels.</summary>
    public string StoreName => _redis is not null ? "Redis" : _redisServer is not null ? "redis-server" : "Garnet";

    /// <summary>The process listening on the port of <paramref name="address"/> (<c>host:port</c>, host on loopback),
    /// or null.</summary>
    private static int? LocalListener(string address)
    {
        var parts = address.Split(',')[0].Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out var port)
            || parts[0] is not ("127.0.0.1" or "localhost") || !File.Exists("/proc/net/tcp"))
        {
            return null;
        }

        // Columns: sl, local address (hex ip:port), remote address, state (0A = listening), …, inode (the 10th).
        var inode = File.ReadLines("/proc/net/tcp").Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length > 9 && f[3] == "0A" && int.Parse(f[1].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port)
            .Select(f => f[9])
            .FirstOrDefault();
        if (inode is null)
        {
            return null;
        }

        var socket = $"socket:[{inode}]";
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                if (Directory.EnumerateFileSystemEntries(Path.Combine(directory, "fd")).Any(fd => new FileInfo(fd).LinkTarget == socket))
                {
                    return pid;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Another user's process, or one that ended.
            }
        }

        return null;
    }

    /// <summary>The CPU time of every process whose command line (its parts) and <c>/proc</c> directory
    /// <paramref name="matches"/> accepts.</summary>
    private static double CpuMillisecondsOf(Func<string[], string, bool> matches)
    {
        if (!Directory.Exists("/proc"))
        {
            return double.NaN;
        }

        var total = 0.0;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (matches(File.ReadAllText(Path.Combine(directory, "cmdline")).Split('\0'), directory))
                {
                    total += CpuMillisecondsOf(directory);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Not a process, one that ended, or another user's.
            }
        }

        return total;
    }

    /// <summary>The CPU time of the process at <paramref name="directory"/> (<c>/proc/PID</c>); 0 once it ended.</summary>
    private static double CpuMillisecondsOf(string directory)
    {
        try
        {
            // Fields 14 and 15 (utime, stime), counted after the command name in parentheses, which may hold spaces.
            var stat = File.ReadAllText(Path.Combine(directory, "stat"));
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return ticks * 10.0; // USER_HZ is 100 on Linux
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>The address of the first healthy replica of <paramref name="service"/> (as <c>/health</c> names it).</summary>
    public async Task<Uri> ReplicaAsync(string service)
    {
        using var probe = new HttpClient { BaseAddress = Gateway, Timeout = TimeSpan.FromSeconds(10) };
        var health = await probe.GetFromJsonAsync<JsonObject>("/health");
        var replica = health?["instances"]?[service]?.AsArray().FirstOrDefault(r => string.Equals((string?)r?["status"], "healthy", StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidOperationException($"/health names no healthy replica of {service}.");
        return new Uri((string)replica["address"]!);
    }

    /// <param name="redis">An existing Redis to use instead of the embedded Garnet; null: the embedded one.</param>
    /// <param name="redisServer">A redis-server for the AppHost to run instead of the embedded Garnet
    /// (<c>ORCHESTRATOR_REDIS_SERVER</c>); null: Garnet.</param>
    /// <param name="nodes">ComfyUI nodes (<c>host:port,host:port</c>) to use instead of the emulated ones; null: the emulators.</param>
    public static async Task<Suite> StartAsync(string? redis, string? redisServer, string? nodes)
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "DirectorsConsole.sln")))
        {
            root = root.Parent;
        }

        var repository = root?.FullName ?? throw new DirectoryNotFoundException("DirectorsConsole.sln not found above the benchmark.");
        var configuration = typeof(Suite).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        var appHost = Path.Combine(repository, "AppHost", "bin", configuration, "net10.0", "DirectorsConsole.AppHost.dll");
        var workingDirectory = Directory.CreateTempSubdirectory("dc-job-bench-").FullName;
        var port = FreePort();
        // Without Aspire's dashboard, which wants a developer certificate this machine may not have.
        var info = new ProcessStartInfo("dotnet", [appHost, "--no-dashboard"])
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ORCHESTRATOR_PORT"] = port.ToString(CultureInfo.InvariantCulture);
        info.Environment["ORCHESTRATOR_WORKFLOWS_DIR"] = Path.Combine(repository, "workflows");
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["Emulator__StepDelayMs"] = "0";
        var gatewaySecret = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        info.Environment["ORCHESTRATOR_GATEWAY_SECRET"] = gatewaySecret;
        if (redis is null)
        {
            info.Environment.Remove("ConnectionStrings__redis");
        }
        else
        {
            info.Environment["ConnectionStrings__redis"] = redis;
        }

        if (redisServer is null)
        {
            info.Environment.Remove("ORCHESTRATOR_REDIS_SERVER");
        }
        else
        {
            info.Environment["ORCHESTRATOR_REDIS_SERVER"] = redisServer;
        }

        if (nodes is null)
        {
            info.Environment.Remove("ORCHESTRATOR_COMFY_NODES");
        }
        else
        {
            info.Environment["ORCHESTRATOR_COMFY_NODES"] = nodes;
        }

        info.Environment.Remove("ORCHESTRATOR_CONFIG");
        var process = Process.Start(info) ?? throw new InvalidOperationException("The AppHost did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var suite = new Suite(process, workingDirectory, new Uri($"http://127.0.0.1:{port}"), gatewaySecret,
            Path.Combine(repository, "{0}", "bin", configuration, "net10.0", "DirectorsConsole.{0}"), redis, redisServer);

        using var probe = new HttpClient { BaseAddress = suite.Gateway, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                if ((string?)(await probe.GetFromJsonAsync<JsonObject>("/health"))?["status"] == "healthy")
                {
                    return suite;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // The Gateway is not up yet.
            }

            await Task.Delay(500);
        }

        await suite.DisposeAsync();
        throw new TimeoutException($"The suite did not become healthy on port {port} (is the AppHost built in {configuration}?).");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_appHost.HasExited)
        {
            _ = Kill(_appHost.Id, 15);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await _appHost.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _appHost.Kill(entireProcessTree: true);
            }
        }

        _appHost.Dispose();
        Directory.Delete(_workingDirectory, recursive: true);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
