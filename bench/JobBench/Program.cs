using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.JobBench;

// dotnet run -c Release --project bench/JobBench [-- --rounds 10 --prompts 16 --single 30 --warmup 10 --warmup-seconds 30
//                                                    --seconds 30 --concurrency 32
//                                                    --watchers 500 --watch-rounds 3 --nodes host:port,host:port --redis host:port --redis-server redis-server
//                                                    --only group,single,watchers,submit --watch-direct --prompt-nodes 0]
//
// Starts the whole suite as the README does (the built AppHost in a temporary working directory; its two emulated
// ComfyUI nodes rendering in no time, or the ComfyUI nodes given with --nodes), then measures, side by side and
// interleaved so that load from elsewhere hits both alike, the same tiny prompt (TestProgressImage 1 step, no delay,
// 8×8 → SaveImage, a new seed each time) sent straight to the nodes and through the Gateway:
//  1. --prompts prompts spread over the nodes: direct = POST each to a node's /prompt and wait for every
//     execution_success on the node's WebSocket; suite = one job group with that many children, submit → group_complete
//     (--rounds times each after --warmup rounds not counted, and at least --warmup-seconds of them, median and p95,
//     ratio of the medians; the suite's eight processes are still compiling their hot paths for the first tens of
//     seconds under load, which a farm that runs all day does not see: sampled with perf while 500 clients watched
//     groups right after the start, the runtime's compiler threads took more than half of the machine's CPU);
//  2. one prompt (--single times each, after the same warm-up): direct POST → execution_success against POST /api/job →
//     job_completed on the job's stream; median and p95, and the latency the suite adds. Its paths (a single job, a
//     job's stream) are compiled again at their first uses, and for about two seconds after them the runtime's second,
//     optimising compilation of them takes the cores: ten runs (a third of a second) were not enough to warm them;
//  3. one job group of --prompts children watched by --watchers WebSocket clients: for each event with a time of its
//     own (started_at, completed_at, …: when BackendService saw the node's message), the time until each client got
//     it, p50/p99 over every client and event, split into the first client's delay and every client's lag behind the
//     first, with the benchmark's own time per message and CPU use; --watch-rounds such groups one after another, pooled,
//     after watched groups not counted for --warmup-seconds; --watch-direct measures it again with the clients
//     connected straight to a JobService replica's own port (no Gateway);
//  4. POST /api/job for --seconds with --concurrency clients, the nodes disabled so the jobs stay queued and only the
//     orchestration is measured, then every accepted job read back (missing ones counted); straight to JobService's own
//     port (with the secret the Gateway adds), then through the Gateway, for the Gateway's share; after 10 s through
//     the Gateway, and each after 3 s of the same, not counted.
// --only runs just the named parts (a comma-separated list of group, single, watchers, submit; all by default).
// The gallery's figures come from bench/GalleryBench. --redis runs the suite against that server instead of the
// embedded Garnet; --redis-server redis-server has the AppHost run that redis-server instead (redis_server).
// --prompt-nodes N adds N nodes that no output needs to every prompt, direct and through the suite
// alike (ComfyUI does not run them): a prompt of a real workflow's size instead of two nodes. Not part of `dotnet test`.
internal static class Benchmark
{
    public static async Task<int> Main(string[] args)
    {
        var rounds = Option(args, "--rounds", 10);
        var prompts = Option(args, "--prompts", 16);
        var singles = Option(args, "--single", 30);
        var warmup = Option(args, "--warmup", 10);
        var warmupTime = TimeSpan.FromSeconds(Option(args, "--warmup-seconds", 30));
        var seconds = Option(args, "--seconds", 30);
        var concurrency = Option(args, "--concurrency", 32);
        var watcherCount = Option(args, "--watchers", 500);
        var watchRounds = Option(args, "--watch-rounds", 3);
        var watchDirect = args.Contains("--watch-direct");
        _paddingNodes = Option(args, "--prompt-nodes", 0);
        var redis = TextOption(args, "--redis");
        var redisServer = TextOption(args, "--redis-server");
        var nodeList = TextOption(args, "--nodes");
        var only = TextOption(args, "--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            ?? ["group", "single", "watchers", "submit"];
        bool Runs(string part) => only.Contains(part, StringComparer.OrdinalIgnoreCase);

        var expected = nodeList?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Length ?? 2;
        await using var suite = await Suite.StartAsync(redis, redisServer, nodeList);
        using var gateway = new HttpClient { BaseAddress = suite.Gateway, Timeout = TimeSpan.FromSeconds(60) };
        var backends = await OnlineBackendsAsync(gateway, expected);
        var nodes = new List<ComfyNode>();
        foreach (var backend in backends)
        {
            nodes.Add(await ComfyNode.ConnectAsync(backend.Address));
        }

        Console.WriteLine($"Suite up on {suite.Gateway} with {backends.Length} {(nodeList is null ? "emulated" : "given")} nodes " +
            $"({string.Join(", ", backends.Select(b => $"{b.Id} at {b.Address}"))}); {Environment.ProcessorCount} cores; " +
            $"load average {LoadAverage()}; Redis: {redis ?? (redisServer is null ? "the embedded Garnet" : $"a redis-server run by the AppHost ({redisServer})")}");

        var table = new List<string[]>();
        var groupBackends = Enumerable.Range(0, prompts).Select(i => backends[i % backends.Length].Id).ToArray();

        // 1. N prompts over the nodes, interleaved, after --warmup rounds of each, not counted.
        if (Runs("group"))
        {
            var direct = new List<double>();
            var viaSuite = new List<double>();
            var groupParts = new List<GroupTiming>();
            var warmedUp = await WarmUpAsync(warmup, warmupTime, async () =>
            {
                await DirectBatchAsync(nodes, prompts);
                await RunGroupAsync(gateway, suite.Gateway, groupBackends, Workflow("group"));
            });
            string[] services = ["JobService", "BackendService", "Gateway"];
            var cpuBefore = services.Select(suite.CpuMilliseconds).Append(suite.StoreCpuMilliseconds()).ToArray();
            for (var i = 0; i < rounds; i++)
            {
                direct.Add(await DirectBatchAsync(nodes, prompts));
                var group = await RunGroupAsync(gateway, suite.Gateway, groupBackends, Workflow("group"));
                viaSuite.Add(group.Total);
                groupParts.Add(group);
            }

            // Only the suite's own processes: the nodes and this benchmark serve the direct prompts too.
            var cpuPerPrompt = services.Select(suite.CpuMilliseconds).Append(suite.StoreCpuMilliseconds())
                .Select((after, i) => (after - cpuBefore[i]) / (rounds * prompts)).ToArray();
            Console.WriteLine();
            Console.WriteLine($"{prompts} prompts on {nodes.Count} nodes, {rounds} rounds after {warmedUp} not counted: direct median {Median(direct):0.0} ms (p95 {Percentile(direct, 0.95):0.0}), " +
                $"suite (one job group, submit → group_complete) median {Median(viaSuite):0.0} ms (p95 {Percentile(viaSuite, 0.95):0.0})");
            Console.WriteLine($"  CPU per prompt through the suite: {string.Join(", ", services.Append(suite.StoreName).Zip(cpuPerPrompt, (name, ms) => $"{name} {ms:0.00} ms"))}; " +
                $"{cpuPerPrompt.Sum():0.00} ms in all (the nodes and this benchmark not counted; 10 ms ticks, so take it over at least --rounds 50)");
            string GroupPart(Func<GroupTiming, double> part) =>
                $"{Median([.. groupParts.Select(part)]):0.0} ms (p95 {Percentile([.. groupParts.Select(part)], 0.95):0.0})";
            Console.WriteLine($"  where the suite's time went (medians and p95, by the children's own times): POST → 201 {GroupPart(g => g.ToSubmitted)}, " +
                $"201 → the first child started on its node {GroupPart(g => g.ToFirstStarted)}, first started → last finished {GroupPart(g => g.Rendering)}, " +
                $"last finished → group_complete at the client {GroupPart(g => g.ToClient)}");
            table.Add([$"{prompts} zero-time prompts on {nodes.Count} nodes (median of {rounds})", Ms(Median(direct)), Ms(Median(viaSuite)),
                $"{Median(viaSuite) / Median(direct):0.0}×", "≤ 1.5×"]);
        }

        // 2. One prompt, interleaved.
        if (Runs("single"))
        {
            var directOne = new List<double>();
            var suiteOne = new List<double>();
            var parts = new List<JobTiming>();
            var warmedUp = await WarmUpAsync(warmup, warmupTime, async () =>
            {
                await nodes[0].RunAsync(Workflow("direct"), CancellationToken.None);
                await RunJobAsync(gateway, suite.Gateway, backends[0].Id);
            });
            for (var i = 0; i < singles; i++)
            {
                directOne.Add(await TimeAsync(() => nodes[0].RunAsync(Workflow("direct"), CancellationToken.None)));
                var s = await RunJobAsync(gateway, suite.Gateway, backends[0].Id);
                suiteOne.Add(s.Total);
                parts.Add(s);
            }

            Console.WriteLine();
            Console.WriteLine($"One prompt, {singles} runs after {warmedUp} not counted: direct (POST /prompt → execution_success) median {Median(directOne):0.0} ms p95 {Percentile(directOne, 0.95):0.0} ms; " +
                $"suite (POST /api/job → job_completed) median {Median(suiteOne):0.0} ms p95 {Percentile(suiteOne, 0.95):0.0} ms");
            // The median and the p95 of each part: a tail shows in the part it comes from.
            string Part(Func<JobTiming, double> part) =>
                $"{Median([.. parts.Select(part)]):0.0} ms (p95 {Percentile([.. parts.Select(part)], 0.95):0.0})";
            Console.WriteLine($"  where the suite's time went (medians and p95, by the job's own times): POST → stored {Part(p => p.ToStored)}, " +
                $"stored → node started (scheduler, queues, post) {Part(p => p.ToStarted)}, " +
                $"started → finished on the node {Part(p => p.Rendering)}, " +
                $"finished → job_completed at the client (events, apply, stream, socket) {Part(p => p.ToClient)}");
            table.Add([$"one prompt, median of {singles}", Ms(Median(directOne)), Ms(Median(suiteOne)), $"+{Median(suiteOne) - Median(directOne):0.0} ms", "≤ +25 ms"]);
            table.Add([$"one prompt, p95 of {singles}", Ms(Percentile(directOne, 0.95)), Ms(Percentile(suiteOne, 0.95)),
                $"+{Percentile(suiteOne, 0.95) - Percentile(directOne, 0.95):0.0} ms", ""]);
        }

        // 3. One group watched by many clients, through the Gateway (and, with --watch-direct, straight to JobService).
        if (Runs("watchers"))
        {
            foreach (var direct in watchDirect ? [false, true] : new[] { false })
            {
                // The watch path (hundreds of sessions, the fan-out, the Gateway's WebSocket proxying) is compiled at its
                // first uses, and for seconds after them the runtime's optimising compilation takes the cores in every
                // process: watched groups first, not counted, then --watch-rounds measured ones pooled.
                var warmedUp = await WarmUpAsync(1, warmupTime, async () => await WatchGroupAsync(gateway, suite, backends, groupBackends, watcherCount, direct));
                var watches = new List<WatchResult>();
                for (var i = 0; i < watchRounds; i++)
                {
                    watches.Add(await WatchGroupAsync(gateway, suite, backends, groupBackends, watcherCount, direct));
                }

                var watch = WatchResult.Pool(watches);
                var delivery = watch.Delivery;
                var via = direct ? "straight to JobService" : "through the Gateway";
                Console.WriteLine();
                Console.WriteLine($"{watchRounds} job groups of {prompts} children one after another, after {warmedUp} not counted, each watched by {watcherCount} WebSocket clients {via} (all connected in {watch.ConnectMs:0} ms, all had initial_state {watch.StartMs:0} ms later; " +
                    $"load average {LoadAverage()}): {delivery.Count} deliveries of {watch.Events} timed events, node message seen → client: " +
                    $"p50 {Percentile(delivery, 0.5):0.0} ms, p99 {Percentile(delivery, 0.99):0.0} ms, max {delivery.DefaultIfEmpty(double.NaN).Max():0.0} ms");
                Console.WriteLine($"  the first watcher of each event: p50 {Percentile(watch.FirstDelivery, 0.5):0.0} ms, p99 {Percentile(watch.FirstDelivery, 0.99):0.0} ms " +
                    $"(node message seen → JobService changed the job p50 {Percentile(watch.ToChange, 0.5):0.0} ms, p99 {Percentile(watch.ToChange, 0.99):0.0} ms; " +
                    $"changed → first watcher p50 {Percentile(watch.ChangeToFirst, 0.5):0.0} ms, p99 {Percentile(watch.ChangeToFirst, 0.99):0.0} ms); " +
                    $"each watcher behind the first: p50 {Percentile(watch.Spread, 0.5):0.0} ms, p99 {Percentile(watch.Spread, 0.99):0.0} ms; " +
                    $"the client's own time per message {watch.HandlingMicroseconds:0.0} µs, the benchmark process busy on {watch.ClientCores:0.00} cores; " +
                    $"CPU per message received: JobService {watch.JobServiceMicroseconds:0} µs, Gateway {watch.GatewayMicroseconds:0} µs");
                table.Add([$"one group watched by {watcherCount} WebSockets {(direct ? "at JobService" : "")}: event delivery", "", $"p50 {Ms(Percentile(delivery, 0.5))}",
                    $"p99 {Ms(Percentile(delivery, 0.99))}", "p99 ≤ 50 ms"]);
            }
        }

        // 4. Sustained POST /api/job with the nodes disabled, then every job read back.
        var lost = 0;
        if (Runs("submit"))
        {
            foreach (var backend in backends)
            {
                (await gateway.PostAsync($"/api/backends/{backend.Id}/disable", null)).EnsureSuccessStatusCode();
            }

            // Straight to JobService (with the secret the Gateway adds), then through the Gateway, in the same
            // conditions: the difference is the Gateway's share.
            using var jobService = new HttpClient { BaseAddress = await suite.ReplicaAsync("job-service"), Timeout = TimeSpan.FromSeconds(60) };
            jobService.DefaultRequestHeaders.Add("X-Gateway-Secret", suite.GatewaySecret);
            var missing = 0;
            var rejected = 0;
            // Just after start-up the suite's first requests compile its whole path (tens of seconds on a loaded
            // machine, when the first of the two measured well below the second): 10 s of it first, not counted.
            await SubmitForAsync(gateway, TimeSpan.FromSeconds(10), concurrency);
            foreach (var (target, client) in new[] { ("straight to JobService", jobService), ("through the Gateway", gateway) })
            {
                // A few seconds first, not counted: the client's connections open.
                await SubmitForAsync(client, TimeSpan.FromSeconds(3), concurrency);
                var loadBefore = LoadAverage();
                var jobServiceBefore = suite.CpuMilliseconds("JobService");
                var gatewayBefore = suite.CpuMilliseconds("Gateway");
                var storeBefore = suite.StoreCpuMilliseconds();
                var benchBefore = Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
                var (jobIds, refused, submitLatencies) = await SubmitForAsync(client, TimeSpan.FromSeconds(seconds), concurrency);
                var jobServiceCpu = (suite.CpuMilliseconds("JobService") - jobServiceBefore) / Math.Max(1, jobIds.Count) * 1000;
                var gatewayCpu = (suite.CpuMilliseconds("Gateway") - gatewayBefore) / Math.Max(1, jobIds.Count) * 1000;
                var storeCpu = (suite.StoreCpuMilliseconds() - storeBefore) / Math.Max(1, jobIds.Count) * 1000;
                var benchCpu = (Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds - benchBefore) / Math.Max(1, jobIds.Count) * 1000;
                var loadAfter = LoadAverage();
                var notFound = await MissingJobsAsync(gateway, jobIds, concurrency);
                var rate = jobIds.Count / (double)seconds;
                Console.WriteLine();
                Console.WriteLine($"POST /api/job {target}, {concurrency} concurrent clients for {seconds} s (nodes disabled, jobs stay queued; " +
                    $"load average {loadBefore} before, {loadAfter} after):");
                Console.WriteLine($"  {rate:0} requests/s accepted ({jobIds.Count} × 202, {refused} other)   " +
                    $"latency median {Percentile(submitLatencies, 0.5):0.0} ms   p95 {Percentile(submitLatencies, 0.95):0.0} ms   p99 {Percentile(submitLatencies, 0.99):0.0} ms;   " +
                    $"read back: {notFound} missing;   CPU per accepted request: JobService {jobServiceCpu:0} µs, Gateway {gatewayCpu:0} µs, " +
                    $"{suite.StoreName} {(double.IsNaN(storeCpu) ? "not measured (not on this machine)" : $"{storeCpu:0} µs")}, this benchmark's clients {benchCpu:0} µs");
                table.Add([$"POST /api/job {target}, {concurrency} clients, {seconds} s", "", $"{rate:0}/s", $"{notFound} missing (p99 {Percentile(submitLatencies, 0.99):0} ms)", "≥ 2,000/s, 0 missing"]);
                missing += notFound;
                rejected += refused;
            }

            lost = missing + rejected;
        }

        table.Add(["gallery scan-tree / repeated search (20,000 files)", "", "see bench/GalleryBench", "", "≤ 100 ms / ≤ 30 ms"]);

        foreach (var node in nodes)
        {
            await node.DisposeAsync();
        }

        Console.WriteLine();
        Console.WriteLine($"Load average at the end: {LoadAverage()}");
        PrintTable(["measure", "direct", "suite", "ratio or figure", "target"], table);
        return lost == 0 ? 0 : 1;
    }

    /// <summary>Nodes added to every prompt that no output needs (--prompt-nodes): ComfyUI runs only what an output
    /// needs, so they cost the node nothing to run, but they make the prompt as large as a real workflow's (about 100
    /// bytes each), for the suite to store, read and parse.</summary>
    private static int _paddingNodes;

    private static int _workflowsMade;

    /// <summary>The prompt both paths send: ComfyUI's test node, one step, no delay, 8×8, saved; a new seed each time
    /// (the suite's group gives each child its own seed too), so no node answers from its cache.</summary>
    private static JsonObject Workflow(string name, int steps = 1, int delayMs = 0)
    {
        // ComfyUI's SaveImage lists the whole output folder at every save to find the next file number (and so does
        // the emulator, as ComfyUI does): in one folder the thousands of images a run leaves would make every prompt
        // slower than the last, on the node's CPU, which the suite shares here. Every eight prompts (or groups) a
        // folder of their own keeps that listing short for both paths alike.
        var prefix = $"bench/{Interlocked.Increment(ref _workflowsMade) / 8:D6}/{name}";
        var prompt = new JsonObject
        {
            ["1"] = new JsonObject
            {
                ["class_type"] = "TestProgressImage",
                ["inputs"] = new JsonObject { ["steps"] = steps, ["delay_ms"] = delayMs, ["seed"] = Random.Shared.NextInt64(1, 1L << 48), ["width"] = 8, ["height"] = 8 },
            },
            ["2"] = new JsonObject
            {
                ["class_type"] = "SaveImage",
                ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = prefix },
            },
        };
        for (var i = 0; i < _paddingNodes; i++)
        {
            prompt[$"pad{i}"] = new JsonObject
            {
                ["class_type"] = "EmptyImage",
                ["inputs"] = new JsonObject { ["width"] = 8, ["height"] = 8, ["batch_size"] = 1, ["color"] = i },
            };
        }

        return prompt;
    }

    /// <summary>Milliseconds from the first POST to the last <c>execution_success</c>, the prompts dealt round-robin.</summary>
    private static Task<double> DirectBatchAsync(IReadOnlyList<ComfyNode> nodes, int count) =>
        TimeAsync(() => Task.WhenAll(Enumerable.Range(0, count).Select(i => nodes[i % nodes.Count].RunAsync(Workflow("direct"), CancellationToken.None))));

    private static async Task<double> TimeAsync(Func<Task> work)
    {
        var clock = Stopwatch.StartNew();
        await work();
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>One job group through the suite: milliseconds from <c>POST /api/job-groups</c> to <c>group_complete</c> on
    /// the group's stream, split by the children's own times as their events on that stream carry them: until the 201,
    /// until the first child started on its node (<c>started_at</c>), until the last one finished (<c>completed_at</c>),
    /// and until the client had <c>group_complete</c>. The socket asks for <c>?since=0</c>, so a group that ends before it
    /// connects still replays its <c>group_complete</c>.</summary>
    private static async Task<GroupTiming> RunGroupAsync(HttpClient gateway, Uri baseAddress, string[] backendIds, JsonObject workflow)
    {
        var clock = Stopwatch.StartNew();
        var sent = DateTimeOffset.UtcNow;
        var id = await SubmitGroupAsync(gateway, backendIds, workflow);
        var submitted = clock.Elapsed.TotalMilliseconds;
        DateTimeOffset? firstStarted = null, lastFinished = null;
        await WaitForAsync(baseAddress, $"/ws/job-groups/{id}?since=0", "group_complete", message =>
        {
            if (message["started_at"] is JsonValue started && (string?)message["type"] == "child_started")
            {
                var at = DateTimeOffset.Parse((string)started!, CultureInfo.InvariantCulture);
                firstStarted = firstStarted is { } first && first < at ? first : at;
            }
            else if (message["completed_at"] is JsonValue completed && (string?)message["type"] == "child_completed")
            {
                var at = DateTimeOffset.Parse((string)completed!, CultureInfo.InvariantCulture);
                lastFinished = lastFinished is { } last && last > at ? last : at;
            }
        });
        var total = clock.Elapsed.TotalMilliseconds;
        var received = DateTimeOffset.UtcNow;
        var startedAt = firstStarted ?? throw new InvalidOperationException($"Group {id} completed without a child_started with its started_at.");
        var finishedAt = lastFinished ?? throw new InvalidOperationException($"Group {id} completed without a child_completed with its completed_at.");
        return new GroupTiming(total, submitted, (startedAt - sent).TotalMilliseconds - submitted, (finishedAt - startedAt).TotalMilliseconds,
            (received - finishedAt).TotalMilliseconds);
    }

    private sealed record GroupTiming(double Total, double ToSubmitted, double ToFirstStarted, double Rendering, double ToClient);

    private static async Task<string> SubmitGroupAsync(HttpClient gateway, string[] backendIds, JsonObject workflow)
    {
        using var response = await gateway.PostAsJsonAsync("/api/job-groups", new { workflow_json = workflow, backend_ids = backendIds });
        response.EnsureSuccessStatusCode();
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>())!["job_group_id"]!;
    }

    /// <summary>One job through the suite: milliseconds from <c>POST /api/job</c> to <c>job_completed</c> on the job's
    /// stream (asked with <c>?since=0</c>, so an event before the socket connects is replayed), split by the job's own
    /// times (read afterwards) into: until JobService stored it (<c>created_at</c>), until BackendService saw the node
    /// start it (<c>started_at</c>), until it saw it finish (<c>completed_at</c>), and until the client had the event.</summary>
    private static async Task<JobTiming> RunJobAsync(HttpClient gateway, Uri baseAddress, string backendId)
    {
        var clock = Stopwatch.StartNew();
        var sent = DateTimeOffset.UtcNow;
        using var response = await gateway.PostAsJsonAsync("/api/job", new { workflow_json = Workflow("job"), backend_affinity = backendId });
        response.EnsureSuccessStatusCode();
        var id = (string)(await response.Content.ReadFromJsonAsync<JsonObject>())!["job_id"]!;
        await WaitForAsync(baseAddress, $"/api/job/{id}/stream?since=0", "job_completed");
        var total = clock.Elapsed.TotalMilliseconds;
        var received = DateTimeOffset.UtcNow;
        var job = (await gateway.GetFromJsonAsync<JsonObject>($"/api/jobs/{id}"))!;
        var created = DateTimeOffset.Parse((string)job["created_at"]!, CultureInfo.InvariantCulture);
        var started = DateTimeOffset.Parse((string)job["started_at"]!, CultureInfo.InvariantCulture);
        var completed = DateTimeOffset.Parse((string)job["completed_at"]!, CultureInfo.InvariantCulture);
        return new JobTiming(total, (created - sent).TotalMilliseconds, (started - created).TotalMilliseconds,
            (completed - started).TotalMilliseconds, (received - completed).TotalMilliseconds);
    }

    private sealed record JobTiming(double Total, double ToStored, double ToStarted, double Rendering, double ToClient);

    private static async Task WaitForAsync(Uri baseAddress, string path, string type, Action<JsonNode>? onMessage = null)
    {
        using var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await socket.ConnectAsync(new Uri($"ws://{baseAddress.Authority}{path}"), timeout.Token);
        var buffer = new byte[256 * 1024];
        while (true)
        {
            var message = await ReceiveTextAsync(socket, buffer, timeout.Token)
                ?? throw new InvalidOperationException($"{path} closed before {type}: {socket.CloseStatusDescription}");
            var parsed = JsonNode.Parse(message)!;
            onMessage?.Invoke(parsed);
            var received = (string?)parsed["type"];
            if (received == type)
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
                return;
            }

            if (received is "job_failed" or "job_timeout" or "job_cancelled")
            {
                throw new InvalidOperationException($"{path}: {received} instead of {type}");
            }
        }
    }

    /// <summary>One message's bytes; null when the socket closed.</summary>
    private static async Task<MemoryStream?> ReceiveTextAsync(ClientWebSocket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        var message = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);

        message.Position = 0;
        return message;
    }

    /// <summary>Holds every node with a long, interruptible prompt (a group of one child per node), submits the measured
    /// group behind it, connects the watchers to the measured group (through the Gateway, or with
    /// <paramref name="direct"/> straight to a JobService replica's own port), waits until every watcher has its
    /// <c>initial_state</c>, then cancels the holding group so the measured one runs while all of them watch. For every
    /// event with a time of its own that happened after that it records each watcher's delay in getting it. Each watcher reads only <c>type</c>,
    /// <c>sequence</c> and the event's time from the message (no document is built), and the time it spends on a message
    /// after the receive completed is measured, with the benchmark process's CPU time, so that the client's own share
    /// shows.</summary>
    private static async Task<WatchResult> WatchGroupAsync(
        HttpClient gateway, Suite suite, Backend[] backends, string[] groupBackends, int watcherCount, bool direct)
    {
        var hold = await SubmitGroupAsync(gateway, backends.Select(b => b.Id).ToArray(), Workflow("hold", steps: 600, delayMs: 1000));
        var measured = await SubmitGroupAsync(gateway, groupBackends, Workflow("watched"));
        var target = direct ? await suite.ReplicaAsync("job-service") : suite.Gateway;
        var clock = Stopwatch.StartNew();
        var watchers = new List<ClientWebSocket>();
        for (var i = 0; i < watcherCount; i += 50)
        {
            watchers.AddRange(await Task.WhenAll(Enumerable.Range(i, Math.Min(50, watcherCount - i)).Select(async _ =>
            {
                var socket = new ClientWebSocket();
                if (direct)
                {
                    socket.Options.SetRequestHeader("X-Gateway-Secret", suite.GatewaySecret);
                }

                await socket.ConnectAsync(new Uri($"ws://{target.Authority}/ws/job-groups/{measured}"), CancellationToken.None);
                return socket;
            })));
        }

        var connectMs = clock.Elapsed.TotalMilliseconds;
        // The group is let go once every watcher has its initial_state: the sessions' start (each reads the group) is
        // not part of the delivery measured.
        var started = watchers.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var readyTicks = new StrongBox<long>(long.MaxValue);
        var arrivals = watchers.Select(_ => new List<(long Sequence, string? Type, string? JobId, DateTimeOffset Happened, DateTimeOffset At)>()).ToArray();
        var handlingTicks = new long[watcherCount];
        var messages = new long[watcherCount];
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var watching = watchers.Select((socket, w) => Task.Run(async () =>
        {
            var buffer = new byte[256 * 1024];
            while (await ReceiveMessageAsync(socket, buffer, timeout.Token) is { } length)
            {
                var at = DateTimeOffset.UtcNow;
                var handling = Stopwatch.GetTimestamp();
                var (type, sequence, jobId, happened) = ReadTimedEvent(buffer.AsSpan(0, length));
                started[w].TrySetResult();
                if (type == "group_complete")
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
                    return;
                }

                if (happened is { } time && time.UtcTicks > Volatile.Read(ref readyTicks.Value))
                {
                    arrivals[w].Add((sequence, type, jobId, time, at));
                }

                handlingTicks[w] += Stopwatch.GetTimestamp() - handling;
                messages[w]++;
            }
        })).ToArray();

        await Task.WhenAll(started.Select(s => s.Task)).WaitAsync(timeout.Token);
        var startMs = clock.Elapsed.TotalMilliseconds - connectMs;
        Volatile.Write(ref readyTicks.Value, DateTimeOffset.UtcNow.UtcTicks);
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var jobServiceBefore = suite.CpuMilliseconds("JobService");
        var gatewayBefore = suite.CpuMilliseconds("Gateway");
        var watchStarted = Stopwatch.StartNew();
        (await gateway.DeleteAsync($"/api/job-groups/{hold}")).EnsureSuccessStatusCode();
        await Task.WhenAll(watching);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        var jobServiceCpu = suite.CpuMilliseconds("JobService") - jobServiceBefore;
        var gatewayCpu = suite.CpuMilliseconds("Gateway") - gatewayBefore;
        var wall = watchStarted.Elapsed;
        foreach (var socket in watchers)
        {
            socket.Dispose();
        }

        // Per event: the first watcher's delay (the way to the stream and one socket), split at the moment JobService
        // changed the job (the time of its history entry for the event, the same as the stream event's), and every
        // watcher's lag behind that first one (the fan-out).
        var all = arrivals.SelectMany(a => a).ToList();
        var first = all.GroupBy(a => a.Sequence).ToDictionary(g => g.Key, g => g.MinBy(a => a.At));
        var changed = new Dictionary<(string?, string?), DateTimeOffset>();
        foreach (var entry in (await gateway.GetFromJsonAsync<JsonArray>($"/api/v1/jobs/{measured}/history"))!)
        {
            changed.TryAdd(((string?)entry!["job_id"], "child_" + (string?)entry["event"]), DateTimeOffset.Parse((string)entry["at"]!, CultureInfo.InvariantCulture));
        }

        var split = first.Values.Where(f => changed.ContainsKey((f.JobId, f.Type))).Select(f => (f, Changed: changed[(f.JobId, f.Type)])).ToList();
        return new WatchResult(
            [.. all.Select(a => (a.At - a.Happened).TotalMilliseconds)],
            [.. first.Values.Select(f => (f.At - f.Happened).TotalMilliseconds)],
            [.. split.Select(s => (s.Changed - s.f.Happened).TotalMilliseconds)],
            [.. split.Select(s => (s.f.At - s.Changed).TotalMilliseconds)],
            [.. all.Select(a => (a.At - first[a.Sequence].At).TotalMilliseconds)],
            first.Count,
            connectMs,
            startMs,
            messages.Sum() == 0 ? double.NaN : Stopwatch.GetElapsedTime(0, handlingTicks.Sum()).TotalMicroseconds / messages.Sum(),
            cpu.TotalMilliseconds / wall.TotalMilliseconds,
            jobServiceCpu / Math.Max(1, messages.Sum()) * 1000,
            gatewayCpu / Math.Max(1, messages.Sum()) * 1000);
    }

    /// <param name="Delivery">Every watcher's delay for every timed event (node message seen → client).</param>
    /// <param name="FirstDelivery">Per event, the first watcher's delay.</param>
    /// <param name="ToChange">Per event, from the node's message seen by BackendService until JobService changed the job
    /// (BackendService's record and publish, pub/sub, JobService reading the job).</param>
    /// <param name="ChangeToFirst">Per event, from that change to the first watcher (the commit, the stream notification,
    /// the replica's read, one socket's send, and the Gateway when it is in the way).</param>
    /// <param name="Spread">Every watcher's lag behind the first watcher that got the same event.</param>
    /// <param name="HandlingMicroseconds">The client's own time per message after its receive completed.</param>
    /// <param name="ClientCores">The benchmark process's CPU time over the watch's wall time (cores it kept busy).</param>
    /// <param name="JobServiceMicroseconds">JobService's CPU time during the watch per message a watcher got.</param>
    /// <param name="GatewayMicroseconds">The Gateway's CPU time during the watch per message a watcher got.</param>
    private sealed record WatchResult(
        List<double> Delivery, List<double> FirstDelivery, List<double> ToChange, List<double> ChangeToFirst, List<double> Spread, int Events, double ConnectMs, double StartMs, double HandlingMicroseconds, double ClientCores,
        double JobServiceMicroseconds, double GatewayMicroseconds)
    {
        /// <summary>Several watches as one: every delay of each, the events summed, the rest averaged.</summary>
        public static WatchResult Pool(List<WatchResult> watches) => new(
            [.. watches.SelectMany(w => w.Delivery)], [.. watches.SelectMany(w => w.FirstDelivery)], [.. watches.SelectMany(w => w.ToChange)],
            [.. watches.SelectMany(w => w.ChangeToFirst)], [.. watches.SelectMany(w => w.Spread)], watches.Sum(w => w.Events),
            watches.Average(w => w.ConnectMs), watches.Average(w => w.StartMs), watches.Average(w => w.HandlingMicroseconds), watches.Average(w => w.ClientCores),
            watches.Average(w => w.JobServiceMicroseconds), watches.Average(w => w.GatewayMicroseconds));
    }

    /// <summary>One message into <paramref name="buffer"/>; its length, or null when the socket closed.</summary>
    private static async Task<int?> ReceiveMessageAsync(ClientWebSocket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        var length = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            length += result.Count;
        }
        while (!result.EndOfMessage);

        return length;
    }

    private static readonly string[] EventTimes = ["started_at", "completed_at", "failed_at", "timed_out_at", "cancelled_at", "rendered_at"];

    /// <summary>The message's <c>type</c>, <c>sequence</c> and own time, read from its top level without building a document.</summary>
    private static (string? Type, long Sequence, string? JobId, DateTimeOffset? Happened) ReadTimedEvent(ReadOnlySpan<byte> message)
    {
        var reader = new Utf8JsonReader(message);
        string? type = null;
        string? jobId = null;
        long sequence = -1;
        DateTimeOffset? happened = null;
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.CurrentDepth != 1)
            {
                continue;
            }

            if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                type = reader.GetString();
            }
            else if (reader.ValueTextEquals("sequence"u8))
            {
                reader.Read();
                sequence = reader.GetInt64();
            }
            else if (reader.ValueTextEquals("job_id"u8))
            {
                reader.Read();
                jobId = reader.GetString();
            }
            else
            {
                var timed = false;
                foreach (var name in EventTimes)
                {
                    timed |= happened is null && reader.ValueTextEquals(name);
                }

                reader.Read();
                if (timed && reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out var time))
                {
                    happened = time;
                }
                else
                {
                    reader.Skip();
                }
            }
        }

        return (type, sequence, jobId, happened);
    }

    private static async Task<(List<string> JobIds, int Rejected, List<double> Latencies)> SubmitForAsync(HttpClient client, TimeSpan duration, int concurrency)
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
        // Serialised once: the clients share the machine with the suite, and their own work should stay small.
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(body);
        var rejected = 0;
        var jobIds = new List<string>();
        var latencies = new List<double>();
        var deadline = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            var mine = new List<double>();
            var ids = new List<string>();
            while (deadline.Elapsed < duration)
            {
                var clock = Stopwatch.StartNew();
                using var content = new ByteArrayContent(json);
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                using var response = await client.PostAsync("/api/job", content);
                var answer = await response.Content.ReadFromJsonAsync<JsonObject>();
                mine.Add(clock.Elapsed.TotalMilliseconds);
                if (response.StatusCode == HttpStatusCode.Accepted && (string?)answer?["job_id"] is { } id)
                {
                    ids.Add(id);
                }
                else
                {
                    Interlocked.Increment(ref rejected);
                }
            }

            lock (latencies)
            {
                latencies.AddRange(mine);
                jobIds.AddRange(ids);
            }
        }));
        return (jobIds, rejected, latencies);
    }

    /// <summary>How many of the accepted jobs <c>GET /api/jobs/{id}</c> does not find.</summary>
    /// <summary>Reads every accepted job back; a job that does not answer 200 is read again after the first pass (a
    /// read that failed is not a lost job), and what is still not there is counted, with its answers printed.</summary>
    private static async Task<int> MissingJobsAsync(HttpClient gateway, List<string> jobIds, int concurrency)
    {
        var failed = await ReadBackAsync(gateway, jobIds, concurrency);
        if (failed.Count == 0)
        {
            return 0;
        }

        Console.WriteLine($"  read back: {failed.Count} not answered 200 at first ({Statuses(failed.Values)}); reading those again");
        await Task.Delay(TimeSpan.FromSeconds(2));
        var still = await ReadBackAsync(gateway, [.. failed.Keys], concurrency);
        if (still.Count > 0)
        {
            Console.WriteLine($"  read back again: {still.Count} still not there ({Statuses(still.Values)}), e.g. {string.Join(", ", still.Keys.Take(3))}");
        }

        return still.Count;

        static string Statuses(IEnumerable<string> answers) =>
            string.Join(", ", answers.GroupBy(a => a).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} × {g.Count()}"));
    }

    private static async Task<ConcurrentDictionary<string, string>> ReadBackAsync(HttpClient gateway, List<string> jobIds, int concurrency)
    {
        var failed = new ConcurrentDictionary<string, string>();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < jobIds.Count)
            {
                try
                {
                    using var response = await gateway.GetAsync($"/api/jobs/{jobIds[index]}");
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        failed[jobIds[index]] = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
                    }
                }
                catch (Exception failure) when (failure is HttpRequestException or TaskCanceledException)
                {
                    failed[jobIds[index]] = failure.GetType().Name;
                }
            }
        }));
        return failed;
    }

    private sealed record Backend(string Id, string Address);

    private static async Task<Backend[]> OnlineBackendsAsync(HttpClient gateway, int expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            var list = await gateway.GetFromJsonAsync<JsonObject>("/api/backends");
            var online = list!["backends"]!.AsArray()
                .Where(b => (bool?)b!["online"] == true)
                .Select(b => new Backend((string)b!["id"]!, $"{(string)b["host"]!}:{(int)b["port"]!}"))
                .ToArray();
            if (online.Length >= expected)
            {
                return online;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"{expected} nodes did not come online.");
    }

    private static void PrintTable(string[] header, List<string[]> rows)
    {
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
        Console.WriteLine();
        Console.WriteLine("| " + string.Join(" | ", header.Select((h, i) => h.PadRight(widths[i]))) + " |");
        Console.WriteLine("| " + string.Join(" | ", widths.Select(w => new string('-', w))) + " |");
        foreach (var row in rows)
        {
            Console.WriteLine("| " + string.Join(" | ", row.Select((c, i) => c.PadRight(widths[i]))) + " |");
        }
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static string Ms(double value) => $"{value:0.0} ms";

    /// <summary>Runs <paramref name="once"/> <paramref name="rounds"/> times and for at least <paramref name="least"/>,
    /// not counted: the suite's processes compile a path again, optimised, a little while after its first uses.</summary>
    private static async Task<int> WarmUpAsync(int rounds, TimeSpan least, Func<Task> once)
    {
        var clock = Stopwatch.StartNew();
        var done = 0;
        while (done < rounds || clock.Elapsed < least)
        {
            await once();
            done++;
        }

        return done;
    }

    private static double Median(List<double> values) => Percentile(values, 0.5);

    private static double Percentile(IEnumerable<double> values, double fraction)
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
