using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace DirectorsConsole.JobBench;

// dotnet run -c Release --project bench/JobBench [-- --groups 20 --children 8 --seconds 10 --concurrency 16 --redis host:port]
//
// Starts the whole suite as the README does (the built AppHost in a temporary working directory, its two emulated
// ComfyUI nodes rendering in no time), then measures through the Gateway only:
//  1. job groups of N children on the emulated nodes: the time POST /api/job-groups takes to answer, and the time from
//     it to group_complete on the group's WebSocket (median, p95 and p99);
//  2. the sustained rate of POST /api/job with some concurrency, with both nodes disabled so the jobs queue and
//     nothing but the orchestration is measured.
// --redis runs the suite against that server instead of the embedded Garnet (ConnectionStrings__redis), for instance a
// Garnet started without --aof-commit-wait to see what waiting for the append-only file costs.
// Not part of `dotnet test`.
internal static class Benchmark
{
    public static async Task<int> Main(string[] args)
    {
        var groups = Option(args, "--groups", 20);
        var children = Option(args, "--children", 8);
        var seconds = Option(args, "--seconds", 10);
        var concurrency = Option(args, "--concurrency", 16);
        var redis = TextOption(args, "--redis");

        await using var suite = await Suite.StartAsync(redis);
        using var gateway = new HttpClient { BaseAddress = suite.Gateway, Timeout = TimeSpan.FromSeconds(60) };
        var backends = await OnlineBackendsAsync(gateway);
        Console.WriteLine($"Suite up on {suite.Gateway} with {backends.Length} emulated backends ({string.Join(", ", backends)}); {Environment.ProcessorCount} cores; " +
            $"Redis: {redis ?? "the embedded Garnet"}");

        var backendIds = Enumerable.Range(0, children).Select(i => backends[i % backends.Length]).ToArray();
        for (var i = 0; i < 3; i++)
        {
            await RunGroupAsync(gateway, suite.Gateway, backendIds);
        }

        var submits = new List<double>();
        var latencies = new List<double>();
        for (var i = 0; i < groups; i++)
        {
            var (submitted, completed) = await RunGroupAsync(gateway, suite.Gateway, backendIds);
            submits.Add(submitted);
            latencies.Add(completed);
        }

        Console.WriteLine();
        Console.WriteLine($"Job group of {children} children over {backends.Length} backends, {groups} groups:");
        Console.WriteLine($"  POST /api/job-groups answered: median {Percentile(submits, 0.5):0.0} ms   p95 {Percentile(submits, 0.95):0.0} ms   p99 {Percentile(submits, 0.99):0.0} ms");
        Console.WriteLine($"  submit → group_complete: median {Percentile(latencies, 0.5):0.0} ms   p95 {Percentile(latencies, 0.95):0.0} ms   p99 {Percentile(latencies, 0.99):0.0} ms   min {latencies.Min():0.0} ms   max {latencies.Max():0.0} ms");

        foreach (var backend in backends)
        {
            (await gateway.PostAsync($"/api/backends/{backend}/disable", null)).EnsureSuccessStatusCode();
        }

        var (accepted, rejected, submitLatencies) = await SubmitForAsync(gateway, TimeSpan.FromSeconds(seconds), concurrency);
        Console.WriteLine();
        Console.WriteLine($"POST /api/job through the Gateway, {concurrency} concurrent clients for {seconds} s (backends disabled, jobs stay queued):");
        Console.WriteLine($"  {accepted / (double)seconds:0} requests/s accepted ({accepted} × 202, {rejected} other)   " +
            $"latency median {Percentile(submitLatencies, 0.5):0.0} ms   p95 {Percentile(submitLatencies, 0.95):0.0} ms   p99 {Percentile(submitLatencies, 0.99):0.0} ms");
        return 0;
    }

    /// <summary>Milliseconds from the submit to its answer and to the group's <c>group_complete</c>. The socket asks for
    /// <c>?since=0</c>, so a group that ends before it connects still replays its <c>group_complete</c>.</summary>
    private static async Task<(double Submitted, double Completed)> RunGroupAsync(HttpClient gateway, Uri baseAddress, string[] backendIds)
    {
        var clock = Stopwatch.StartNew();
        using var response = await gateway.PostAsJsonAsync("/api/job-groups", new
        {
            workflow_json = new JsonObject
            {
                ["1"] = new JsonObject
                {
                    ["class_type"] = "TestProgressImage",
                    ["inputs"] = new JsonObject { ["steps"] = 1, ["delay_ms"] = 0, ["seed"] = 1, ["width"] = 8, ["height"] = 8 },
                },
                ["2"] = new JsonObject
                {
                    ["class_type"] = "SaveImage",
                    ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = "bench/group" },
                },
            },
            backend_ids = backendIds,
        });
        response.EnsureSuccessStatusCode();
        var submitted = clock.Elapsed.TotalMilliseconds;
        var id = (string)(await response.Content.ReadFromJsonAsync<JsonObject>())!["job_group_id"]!;
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{baseAddress.Authority}/ws/job-groups/{id}?since=0"), CancellationToken.None);
        var buffer = new byte[256 * 1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (true)
        {
            using var message = new MemoryStream();
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer, timeout.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    throw new InvalidOperationException($"Group {id} closed before group_complete: {socket.CloseStatusDescription}");
                }

                message.Write(buffer, 0, result.Count);
            }
            while (!result.EndOfMessage);

            if ((string?)JsonNode.Parse(message.ToArray())!["type"] == "group_complete")
            {
                var elapsed = clock.Elapsed.TotalMilliseconds;
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
                return (submitted, elapsed);
            }
        }
    }

    private static async Task<(int Accepted, int Rejected, List<double> Latencies)> SubmitForAsync(HttpClient gateway, TimeSpan duration, int concurrency)
    {
        var body = new
        {
            workflow_json = new JsonObject
            {
                ["1"] = new JsonObject { ["class_type"] = "EmptyImage", ["inputs"] = new JsonObject { ["width"] = 8, ["height"] = 8, ["batch_size"] = 1, ["color"] = 0 } },
                ["2"] = new JsonObject { ["class_type"] = "SaveImage", ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = "bench/job" } },
            },
            parameters = new { width = 16 },
        };
        var accepted = 0;
        var rejected = 0;
        var latencies = new List<double>();
        var deadline = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            var mine = new List<double>();
            while (deadline.Elapsed < duration)
            {
                var clock = Stopwatch.StartNew();
                using var response = await gateway.PostAsJsonAsync("/api/job", body);
                mine.Add(clock.Elapsed.TotalMilliseconds);
                if (response.StatusCode == System.Net.HttpStatusCode.Accepted)
                {
                    Interlocked.Increment(ref accepted);
                }
                else
                {
                    Interlocked.Increment(ref rejected);
                }
            }

            lock (latencies)
            {
                latencies.AddRange(mine);
            }
        }));
        return (accepted, rejected, latencies);
    }

    private static async Task<string[]> OnlineBackendsAsync(HttpClient gateway)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            var list = await gateway.GetFromJsonAsync<JsonObject>("/api/backends");
            var online = list!["backends"]!.AsArray().Where(b => (bool?)b!["online"] == true).Select(b => (string)b!["id"]!).ToArray();
            if (online.Length >= 2)
            {
                return online;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException("The emulated backends did not come online.");
    }

    private static double Percentile(List<double> values, double fraction)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[(int)Math.Min(sorted.Length - 1, Math.Ceiling(fraction * sorted.Length) - 1)];
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static string? TextOption(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }
}

/// <summary>The built AppHost (same configuration as this benchmark) in a temporary working directory, with the
/// Gateway on a free port and the emulated nodes rendering without step delay; stopped with SIGTERM on dispose.</summary>
internal sealed class Suite : IAsyncDisposable
{
    private readonly Process _appHost;
    private readonly string _workingDirectory;

    private Suite(Process appHost, string workingDirectory, Uri gateway)
    {
        _appHost = appHost;
        _workingDirectory = workingDirectory;
        Gateway = gateway;
    }

    public Uri Gateway { get; }

    /// <param name="redis">An existing Redis to use instead of the embedded Garnet; null: the embedded one.</param>
    public static async Task<Suite> StartAsync(string? redis)
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
        if (redis is null)
        {
            info.Environment.Remove("ConnectionStrings__redis");
        }
        else
        {
            info.Environment["ConnectionStrings__redis"] = redis;
        }

        info.Environment.Remove("ORCHESTRATOR_CONFIG");
        var process = Process.Start(info) ?? throw new InvalidOperationException("The AppHost did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var suite = new Suite(process, workingDirectory, new Uri($"http://127.0.0.1:{port}"));

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
