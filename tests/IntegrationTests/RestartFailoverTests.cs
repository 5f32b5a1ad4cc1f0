using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// A script submitting renders all night must not see the suite's restarts: under a steady stream of
/// submissions, JobService and then BackendService of the shared suite (one replica each) are killed with SIGKILL
/// and the AppHost restarts them; in a suite with two JobService replicas, one of them is, and in one with two
/// BackendService replicas, one of those. No request may fail and every accepted job must still exist and end. The
/// time from each kill to the next job start, on any node and on each node, is printed.
/// </summary>
[Collection(nameof(SuiteCollection))]
public sealed class RestartFailoverTests(RunningSuiteFixture fixture)
{
    private static readonly string[] FinalStates = ["completed", "failed", "cancelled", "timeout"];

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public Task KillingEachServiceOfTheSharedSuiteLosesNoRequestAndNoJob() =>
        KillEachServiceUnderLoadAsync(fixture.Suite, "DirectorsConsole.JobService", "DirectorsConsole.BackendService");

    [Fact]
    public async Task KillingOneOfTwoJobServiceAndThenOneOfTwoBackendServiceReplicasLosesNoRequestAndNoJobAndRunsNoPromptTwice()
    {
        var workingDirectory = Directory.CreateTempSubdirectory("dc-failover-").FullName;
        try
        {
            // One suite for both replicated services (a suite of its own costs a minute or more to start). Only replicated
            // services are killed here: the other replica answers while the killed one restarts, so no request may wait
            // for the restart, however long a busy machine takes (a single-replica service's restart is the shared
            // suite's test, where the Gateway holds requests for restart_hold_seconds).
            await using var suite = await SuiteApp.StartAsync(
                workingDirectory, ["--replicas", "job-service=2", "--replicas", "backend-service=2"], Token);
            var jobs = await KillEachServiceUnderLoadAsync(suite, "DirectorsConsole.JobService", "DirectorsConsole.BackendService");

            // Every job completed, and the nodes ran exactly the jobs' prompts, each on one node: none was posted twice
            // by the replica taking over, nor run again under a second prompt id after being given up for lost.
            var notCompleted = jobs.Where(j => (string?)j.Value!["status"] != "completed").Select(j => $"{j.Key} {j.Value!["status"]} {j.Value["error"]}").ToArray();
            Assert.True(notCompleted.Length == 0, $"{notCompleted.Length} jobs did not complete: {string.Join("; ", notCompleted.Take(10))}");
            var runs = await RunsOnTheNodesAsync(suite);
            var prompts = jobs.Values.Select(j => (string)j!["prompt_id"]!).ToList();
            Assert.Equal(prompts.Order(StringComparer.Ordinal), runs.Order(StringComparer.Ordinal));
        }
        finally
        {
            Directory.Delete(workingDirectory, recursive: true);
        }
    }

    /// <summary>The prompt id of every run in the nodes' histories, one per node that ran it.</summary>
    private static async Task<List<string>> RunsOnTheNodesAsync(SuiteApp suite)
    {
        var runs = new List<string>();
        var backends = await suite.Gateway.GetFromJsonAsync<JsonObject>("/api/backends", Token);
        foreach (var backend in backends!["backends"]!.AsArray())
        {
            using var node = new HttpClient { BaseAddress = new Uri($"http://{(string)backend!["host"]!}:{(int)backend["port"]!}/") };
            var history = await node.GetFromJsonAsync<JsonObject>("history", Token);
            runs.AddRange(history!.Select(entry => entry.Key));
        }

        return runs;
    }

    private static async Task<Dictionary<string, JsonObject?>> KillEachServiceUnderLoadAsync(SuiteApp suite, params string[] services)
    {
        // Arrange
        await using var stream = SubmissionStream.Start(suite.Gateway.BaseAddress!);
        await stream.WaitForSubmissionsAsync(10);

        // Act
        var kills = new List<(string Service, DateTimeOffset At, TimeSpan BackWithin)>();
        foreach (var service in services)
        {
            var killedAt = await stream.KillBetweenRequestsAsync(suite.FindServicePid(service));
            await suite.WaitForHealthAsync(status => status == "healthy", TimeSpan.FromSeconds(90), Token, RunningSuite.AllServicesHealthy);
            kills.Add((service, killedAt, DateTimeOffset.UtcNow - killedAt));
            await stream.WaitForSubmissionsAsync(10);
        }

        var (failures, accepted, longestRequest) = await stream.StopAsync();
        var jobs = await WaitForFinalStatesAsync(suite, accepted);

        // Assert
        var killed = string.Join("; ", kills.Select(k => $"{k.Service} killed at {k.At:HH:mm:ss.fff}, healthy again {k.BackWithin.TotalSeconds:0.0} s later"));
        Assert.True(failures.Count == 0, $"{failures.Count} of {failures.Count + accepted.Count} requests failed ({killed}):\n{string.Join("\n", failures.Take(20))}\n" +
            $"The Gateway logged:\n{GatewayProxyErrors(suite)}");
        var missing = jobs.Where(j => j.Value is null).Select(j => j.Key).ToArray();
        Assert.True(missing.Length == 0, $"{missing.Length} accepted jobs are gone: {string.Join(", ", missing.Take(20))}");
        var unfinished = jobs.Where(j => !FinalStates.Contains((string?)j.Value!["status"])).ToArray();
        Assert.True(unfinished.Length == 0,
            $"{unfinished.Length} jobs never ended: {string.Join(", ", unfinished.Take(10).Select(j => $"{j.Key} {j.Value!["status"]}"))}");

        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"{accepted.Count} jobs accepted, 0 requests failed, the longest took {longestRequest.TotalSeconds:0.00} s (held while a service restarted); by status: " +
            string.Join(", ", jobs.Values.GroupBy(j => (string?)j!["status"]).Select(g => $"{g.Key} {g.Count()}")));
        foreach (var (service, at, backWithin) in kills)
        {
            var nextStart = jobs.Values
                .Select(j => (DateTimeOffset?)j!["started_at"]?.GetValue<DateTimeOffset>())
                .Where(started => started > at)
                .Min();
            var perNode = jobs.Values
                .Where(j => j!["started_at"] is not null && (string?)j["backend_id"] is not null)
                .GroupBy(j => (string)j!["backend_id"]!)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => (Backend: g.Key, Next: g.Select(j => j!["started_at"]!.GetValue<DateTimeOffset>()).Where(started => started > at).DefaultIfEmpty().Min()))
                .Select(n => $"{n.Backend} {(n.Next == default ? "none" : $"{(n.Next - at).TotalSeconds:0.00} s")}");
            output?.WriteLine($"{service} killed: next job started {(nextStart - at)?.TotalSeconds:0.00} s later (per node: {string.Join(", ", perNode)}), " +
                $"healthy again {backWithin.TotalSeconds:0.0} s later");
            Console.WriteLine($"[RestartFailoverTests] {service} killed: next job start {(nextStart - at)?.TotalSeconds:0.00} s later (per node: {string.Join(", ", perNode)})");
        }

        return jobs;
    }

    /// <summary>The Gateway's log lines about failed forwarding, for a failure message.</summary>
    private static string GatewayProxyErrors(SuiteApp suite)
    {
        var log = Path.Combine(suite.WorkingDirectory, "logs", "gateway.log");
        if (!File.Exists(log))
        {
            return "(no gateway.log)";
        }

        using var reader = new StreamReader(new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        var lines = reader.ReadToEnd().Split('\n');
        return string.Join("\n", lines.Where(line => line.Contains("Exception", StringComparison.Ordinal) || line.Contains("rror", StringComparison.Ordinal)
            || line.Contains("refused", StringComparison.Ordinal) || line.Contains(" was held ", StringComparison.Ordinal)).TakeLast(40));
    }

    /// <summary>Every accepted job as the Gateway reports it once it has ended (null: it does not exist),
    /// or as last seen when it has not ended within a generous bound.</summary>
    private static async Task<Dictionary<string, JsonObject?>> WaitForFinalStatesAsync(SuiteApp suite, IReadOnlyList<string> ids)
    {
        var jobs = new Dictionary<string, JsonObject?>();
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        foreach (var id in ids)
        {
            while (true)
            {
                using var response = await suite.Gateway.GetAsync($"/api/jobs/{id}", Token);
                var job = response.StatusCode == HttpStatusCode.NotFound ? null : await response.Content.ReadFromJsonAsync<JsonObject>(Token);
                jobs[id] = job;
                if (job is null || FinalStates.Contains((string?)job["status"]) || DateTime.UtcNow > deadline)
                {
                    break;
                }

                await Task.Delay(250, Token);
            }
        }

        return jobs;
    }

    /// <summary>
    /// One client submitting a small job and listing the backends, over and over, recording every answer
    /// that is not a success. A kill waits for the request in flight: a request a process had already
    /// received when it died may have been applied, so no gateway may send it again, and it would fail
    /// whatever the suite did; the test is about the requests that arrive while the service is down.
    /// </summary>
    private sealed class SubmissionStream : IAsyncDisposable
    {
        private readonly HttpClient _gateway;
        private readonly SemaphoreSlim _betweenRequests = new(1, 1);
        private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(Token);
        private readonly List<string> _failures = [];
        private readonly List<string> _accepted = [];
        private TimeSpan _longestRequest;
        private Task _loop = Task.CompletedTask;

        private SubmissionStream(Uri gateway) =>
            // As patient as the Gateway, which holds a request while a service restarts (restart_hold_seconds) and then
            // answers 503 itself, and waits up to its upstream timeout for an answer: a client that gave up sooner would
            // count a request the suite was still carrying as failed, and never learn what the Gateway answered.
            _gateway = new HttpClient { BaseAddress = gateway, Timeout = TimeSpan.FromSeconds(100) };

        public static SubmissionStream Start(Uri gateway)
        {
            var stream = new SubmissionStream(gateway);
            stream._loop = Task.Run(stream.RunAsync);
            return stream;
        }

        public async Task WaitForSubmissionsAsync(int count)
        {
            int target;
            lock (_accepted)
            {
                target = _accepted.Count + count;
            }

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (DateTime.UtcNow < deadline && !_loop.IsCompleted)
            {
                lock (_accepted)
                {
                    if (_accepted.Count >= target)
                    {
                        return;
                    }
                }

                await Task.Delay(100, Token);
            }

            await _loop;
            throw new TimeoutException($"Fewer than {count} jobs were accepted within 60 s; failures: {string.Join("\n", _failures.Take(10))}");
        }

        /// <summary>Kills the process between two requests and returns when its sockets are closed.</summary>
        public async Task<DateTimeOffset> KillBetweenRequestsAsync(int pid)
        {
            await _betweenRequests.WaitAsync(Token);
            try
            {
                RunningSuite.Kill(pid);
                while (IsAlive(pid))
                {
                    await Task.Delay(10, Token);
                }

                return DateTimeOffset.UtcNow;
            }
            finally
            {
                _betweenRequests.Release();
            }
        }

        public async Task<(IReadOnlyList<string> Failures, IReadOnlyList<string> Accepted, TimeSpan LongestRequest)> StopAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            return (_failures, _accepted, _longestRequest);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _stop.Dispose();
            _betweenRequests.Dispose();
            _gateway.Dispose();
        }

        private async Task RunAsync()
        {
            var submitted = 0;
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await _betweenRequests.WaitAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                var started = Stopwatch.StartNew();
                try
                {
                    using var submit = await _gateway.PostAsJsonAsync("/api/job", new
                    {
                        workflow_id = "test_progress",
                        parameters = new { steps = 1, delay_ms = 0, resolution = "16x16", filename_prefix = "failover/job" },
                        metadata = new { n = ++submitted },
                    }, Token);
                    var body = await submit.Content.ReadAsStringAsync(Token);
                    Record(started.Elapsed);
                    if (submit.StatusCode == HttpStatusCode.Accepted)
                    {
                        lock (_accepted)
                        {
                            _accepted.Add((string)JsonNode.Parse(body)!["job_id"]!);
                        }
                    }
                    else
                    {
                        _failures.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} POST /api/job {(int)submit.StatusCode} after {started.ElapsedMilliseconds} ms: {body}");
                    }

                    started.Restart();
                    using var backends = await _gateway.GetAsync("/api/backends", Token);
                    Record(started.Elapsed);
                    if (!backends.IsSuccessStatusCode)
                    {
                        _failures.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} GET /api/backends {(int)backends.StatusCode} after {started.ElapsedMilliseconds} ms: {await backends.Content.ReadAsStringAsync(Token)}");
                    }
                }
                catch (HttpRequestException exception)
                {
                    _failures.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {exception.GetType().Name} after {started.ElapsedMilliseconds} ms: {exception.Message}");
                }
                catch (TaskCanceledException exception) when (!_stop.IsCancellationRequested)
                {
                    _failures.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} no answer within {_gateway.Timeout.TotalSeconds:0} s: {exception.Message}");
                }
                finally
                {
                    _betweenRequests.Release();
                }

                try
                {
                    await Task.Delay(100, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        private void Record(TimeSpan requestTime)
        {
            if (requestTime > _longestRequest)
            {
                _longestRequest = requestTime;
            }
        }

        /// <summary>True until every thread of the process has exited: the main thread can be a zombie while
        /// others are still ending, and until the last one has, the process's sockets stay open.</summary>
        private static bool IsAlive(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var zombie = stat[(stat.LastIndexOf(')') + 2)..][0] is 'Z' or 'X';
                return !zombie || Directory.GetDirectories($"/proc/{pid}/task").Length > 1;
            }
            catch (IOException)
            {
                return false;
            }
        }
    }
}
