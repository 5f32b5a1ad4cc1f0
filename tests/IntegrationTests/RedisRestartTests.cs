using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Extensions;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.IntegrationTests;

/// <summary>The store the AppHost runs killed with SIGKILL under a stream of submissions through the Gateway: the AppHost
/// restarts it, the services wait for it within their Redis:OutageGrace, and no client sees an error. A submission
/// whose write was already sent when the connection broke is sent again once it is back, and recognised by the store's
/// copy if it had been applied; no accepted job is lost (the store replies to a write only once its append-only file
/// holds it), and none runs twice. Run on the embedded Garnet (here, in the shared suite) and on a redis-server
/// (<see cref="RedisServerSuiteTests"/>).</summary>
[Collection(nameof(SuiteCollection))]
public sealed class RedisRestartTests(RunningSuiteFixture fixture)
{
    [Fact]
    public Task SubmissionsRideOutGarnetKilledAndRestartedByTheAppHost() => new StoreRestartScenario(fixture.Suite).RunAsync("GarnetServer");
}

/// <summary>The steps of <see cref="RedisRestartTests"/>, on any suite.</summary>
internal sealed class StoreRestartScenario(SuiteApp suite)
{
    private const int Submitters = 4;
    private const int AcceptedBeforeKill = 40;
    private const int AcceptedAfterRestart = 40;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private SuiteApp Suite => suite;

    /// <summary>Kills the store under the submissions, then checks every accepted job; <paramref name="program"/> is the
    /// store's executable as <see cref="SuiteProcess.Runs"/> names it.</summary>
    public async Task RunAsync(string program)
    {
        await Suite.WaitForHealthAsync(status => status == "healthy", TimeSpan.FromSeconds(120), Token, SuiteProcess.AllServicesHealthy);
        var store = Suite.App.Services.GetRequiredService<DistributedApplicationModel>().Resources.OfType<LocalRedisResource>().Single();
        var storePid = Suite.FindSuiteProcesses().First(p => SuiteProcess.Runs(p.CommandLine, program)).Pid;
        var storePort = store.Port;
        // As patient as the Gateway (100 s upstream timeout), so a request the services hold is not cut short here.
        using var gateway = new HttpClient { BaseAddress = Suite.Gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(100) };
        var clock = Stopwatch.StartNew();
        var prefix = $"redisrestart/{Guid.NewGuid():n}";
        var accepted = new ConcurrentQueue<(string JobId, TimeSpan At)>();
        var errors = new ConcurrentQueue<string>();
        // Stopping lets each submitter finish the request it has sent: a cancelled request may still have been accepted,
        // and every accepted job must be known to the test.
        using var stop = new CancellationTokenSource();
        var submitters = Enumerable.Range(0, Submitters).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await gateway.PostAsJsonAsync("/api/job", new { workflow_json = Prompt(prefix) }, Token);
                    var body = await response.Content.ReadAsStringAsync(Token);
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        accepted.Enqueue(((string)JsonNode.Parse(body)!["job_id"]!, clock.Elapsed));
                    }
                    else
                    {
                        errors.Enqueue($"{clock.Elapsed.TotalSeconds:0.000} s: {(int)response.StatusCode} {body}");
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !Token.IsCancellationRequested)
                {
                    errors.Enqueue($"{clock.Elapsed.TotalSeconds:0.000} s: {ex.Message}");
                }
            }
        }, Token)).ToArray();

        await Eventually.ReturnsAsync(() => Task.FromResult(accepted.Count), n => n >= AcceptedBeforeKill, TimeSpan.FromSeconds(60));
        var killedAt = clock.Elapsed;
        SuiteProcess.Kill(storePid);
        await Eventually.ReturnsAsync(() => AnswersPingAsync(storePort), answers => answers, TimeSpan.FromSeconds(120));
        var outage = clock.Elapsed - killedAt;
        var restarted = await Eventually.ReturnsAsync(
            () => Task.FromResult(Suite.FindSuiteProcesses().Any(p => p.Pid != storePid && SuiteProcess.Runs(p.CommandLine, program))),
            found => found, TimeSpan.FromSeconds(60));
        Assert.True(restarted, $"The AppHost did not restart {program}.");
        await Eventually.ReturnsAsync(() => Task.FromResult(accepted.Count(a => a.At > killedAt)), n => n >= AcceptedAfterRestart, TimeSpan.FromSeconds(90));
        await stop.CancelAsync();
        await Task.WhenAll(submitters);

        TestContext.Current.SendDiagnosticMessage($"{program} was back {outage.TotalSeconds:0.0} s after the kill.");
        Console.WriteLine($"[{program}] back {outage.TotalSeconds:0.0} s after the kill; {errors.Count} client errors");
        Assert.True(errors.IsEmpty, $"{errors.Count} submissions failed ({program} killed at {killedAt.TotalSeconds:0.000} s, back after {outage.TotalSeconds:0.0} s):\n{string.Join('\n', errors.Take(10))}");
        var startedAfterKill = new List<DateTimeOffset>();
        var promptIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (jobId, _) in accepted)
        {
            var job = await Eventually.ReturnsAsync(
                () => GetJobAsync(jobId), j => j is not null && (string?)j["status"] == "completed", TimeSpan.FromSeconds(120));
            Assert.True(job is not null, $"Job {jobId} got a 202 and is gone.");
            if ((string?)job["status"] != "completed")
            {
                // The logs are read only for a job that failed the test: they are the only account of what happened to it.
                string[] ids = job["prompt_id"]?.ToString() is { } promptId ? [jobId, promptId] : [jobId];
                Assert.Fail($"Job {jobId} did not complete: {job.ToJsonString()}\nWhat the services logged about it:\n{Suite.LogLinesAbout(ids)}");
            }

            startedAfterKill.Add(DateTimeOffset.Parse((string)job["started_at"]!, CultureInfo.InvariantCulture));
            promptIds.Add((string)job["prompt_id"]!);
        }

        // The nodes ran exactly the accepted jobs' prompts, each once: none was run twice or under a second prompt id.
        var runs = await RunsOnTheNodesAsync(prefix);
        Assert.Equal(accepted.Count, runs.Count);
        Assert.Equal(promptIds.Order(StringComparer.Ordinal), runs.Order(StringComparer.Ordinal));

        var killedAtWallClock = DateTimeOffset.UtcNow - (clock.Elapsed - killedAt);
        var nextStart = startedAfterKill.Where(s => s > killedAtWallClock).DefaultIfEmpty().Min();
        var firstAcceptedAfter = accepted.Where(a => a.At > killedAt).Min(a => a.At) - killedAt;
        TestContext.Current.SendDiagnosticMessage(
            $"{program} killed: {accepted.Count} jobs accepted, no client error; first 202 after the kill {firstAcceptedAfter.TotalMilliseconds:0} ms later, " +
            $"next job start {(nextStart == default ? "none" : $"{(nextStart - killedAtWallClock).TotalMilliseconds:0} ms")} after the kill.");
        Console.WriteLine($"[{program}] first 202 after the kill: {firstAcceptedAfter.TotalMilliseconds:0} ms; next job start: " +
            $"{(nextStart == default ? "none" : $"{(nextStart - killedAtWallClock).TotalMilliseconds:0} ms")} after the kill ({accepted.Count} jobs, all completed, each run once)");
    }

    // A raw PING, so the outage is measured on the server itself, not through the client under test.
    private static async Task<bool> AnswersPingAsync(int port)
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Token);
            timeout.CancelAfter(TimeSpan.FromSeconds(1));
            await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("*1\r\n$4\r\nPING\r\n"u8.ToArray(), timeout.Token);
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return read > 0 && buffer[0] == (byte)'+';
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or OperationCanceledException && !Token.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>The prompt id of every run with this test's file prefix on the emulated nodes, one per run.</summary>
    private async Task<List<string>> RunsOnTheNodesAsync(string prefix)
    {
        var runs = new List<string>();
        var backends = await Suite.Gateway.GetFromJsonAsync<JsonObject>("/api/backends", Token);
        foreach (var backend in backends!["backends"]!.AsArray())
        {
            using var node = new HttpClient { BaseAddress = new Uri($"http://{(string)backend!["host"]!}:{(int)backend["port"]!}/") };
            var history = await node.GetFromJsonAsync<JsonObject>("history", Token);
            runs.AddRange(history!.Where(entry => entry.Value?["prompt"]?[2]?["2"]?["inputs"]?["filename_prefix"]?.ToString() == prefix).Select(entry => entry.Key));
        }

        return runs;
    }

    private async Task<JsonObject?> GetJobAsync(string jobId)
    {
        using var response = await Suite.Gateway.GetAsync($"/api/job/{jobId}", Token);
        return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadFromJsonAsync<JsonObject>(Token) : null;
    }

    private static JsonObject Prompt(string prefix) => new()
    {
        ["1"] = new JsonObject
        {
            ["class_type"] = "TestProgressImage",
            ["inputs"] = new JsonObject { ["steps"] = 1, ["delay_ms"] = 1, ["seed"] = 1, ["width"] = 8, ["height"] = 8 },
        },
        ["2"] = new JsonObject
        {
            ["class_type"] = "SaveImage",
            ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = prefix },
        },
    };
}
