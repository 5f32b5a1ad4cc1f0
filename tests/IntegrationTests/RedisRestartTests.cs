using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>The embedded Garnet killed with SIGKILL under a stream of submissions through the Gateway: the AppHost
/// restarts it, the services wait for it, and no accepted job is lost (Garnet replies to a write only once its
/// append-only file holds it). The only errors allowed are for writes that were
/// already sent when the connection broke: JobService never sends those twice (they may have been carried out), and
/// answers 503 with Retry-After; retrying them is the Gateway's job. When the restart takes longer than the services'
/// Redis:OutageGrace (a machine far too busy), waiting requests end with 503 + Retry-After too, and nothing else.</summary>
[Collection(nameof(SuiteCollection))]
public sealed class RedisRestartTests(RunningSuiteFixture fixture)
{
    private const int Submitters = 4;
    private const int AcceptedBeforeKill = 40;
    private const int AcceptedAfterRestart = 40;
    private static readonly TimeSpan OutageGrace = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private SuiteApp Suite => fixture.Suite;

    [Fact]
    public async Task SubmissionsRideOutGarnetKilledAndRestartedByTheAppHost()
    {
        await Suite.WaitForHealthAsync(status => status == "healthy", TimeSpan.FromSeconds(120), Token, SuiteProcess.AllServicesHealthy);
        var garnet = Suite.FindSuiteProcesses().First(p => SuiteProcess.Runs(p.CommandLine, "GarnetServer"));
        var garnetPid = garnet.Pid;
        var garnetPort = int.Parse(garnet.CommandLine.Split(' ').SkipWhile(part => part != "--port").Skip(1).First(), CultureInfo.InvariantCulture);
        // As patient as the Gateway (100 s upstream timeout), so a request the services hold is not cut short here.
        using var gateway = new HttpClient { BaseAddress = Suite.Gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(100) };
        var clock = Stopwatch.StartNew();
        var accepted = new ConcurrentQueue<(string JobId, TimeSpan At)>();
        var errors = new ConcurrentQueue<string>();
        var writesInFlight = new ConcurrentQueue<string>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var submitters = Enumerable.Range(0, Submitters).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await gateway.PostAsJsonAsync("/api/job", new { workflow_json = Prompt() }, stop.Token);
                    var body = await response.Content.ReadAsStringAsync(stop.Token);
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        accepted.Enqueue(((string)JsonNode.Parse(body)!["job_id"]!, clock.Elapsed));
                    }
                    else if (response.StatusCode == HttpStatusCode.ServiceUnavailable && response.Headers.RetryAfter is not null
                        && body.Contains("was lost before", StringComparison.Ordinal))
                    {
                        writesInFlight.Enqueue($"{clock.Elapsed.TotalSeconds:0.000} s: {body}");
                    }
                    else
                    {
                        errors.Enqueue($"{clock.Elapsed.TotalSeconds:0.000} s: {(int)response.StatusCode} {body}");
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !stop.IsCancellationRequested)
                {
                    errors.Enqueue($"{clock.Elapsed.TotalSeconds:0.000} s: {ex.Message}");
                }
            }
        }, Token)).ToArray();

        await Eventually.ReturnsAsync(() => Task.FromResult(accepted.Count), n => n >= AcceptedBeforeKill, TimeSpan.FromSeconds(60));
        var killedAt = clock.Elapsed;
        SuiteProcess.Kill(garnetPid);
        await Eventually.ReturnsAsync(() => AnswersPingAsync(garnetPort), answers => answers, TimeSpan.FromSeconds(120));
        var outage = clock.Elapsed - killedAt;
        var restarted = await Eventually.ReturnsAsync(
            () => Task.FromResult(Suite.FindSuiteProcesses().Any(p => p.Pid != garnetPid && SuiteProcess.Runs(p.CommandLine, "GarnetServer"))),
            found => found, TimeSpan.FromSeconds(60));
        Assert.True(restarted, "The AppHost did not restart Garnet.");
        await Eventually.ReturnsAsync(() => Task.FromResult(accepted.Count(a => a.At > killedAt)), n => n >= AcceptedAfterRestart, TimeSpan.FromSeconds(90));
        await stop.CancelAsync();
        await Task.WhenAll(submitters);

        TestContext.Current.SendDiagnosticMessage($"Garnet was back {outage.TotalSeconds:0.0} s after the kill (grace {OutageGrace.TotalSeconds:0} s).");
        Console.WriteLine($"[RedisRestartTests] Garnet was back {outage.TotalSeconds:0.0} s after the kill; {errors.Count} other errors");
        if (outage < OutageGrace - TimeSpan.FromSeconds(5))
        {
            Assert.True(errors.IsEmpty, $"{errors.Count} submissions failed (Garnet killed at {killedAt.TotalSeconds:0.000} s, back after {outage.TotalSeconds:0.0} s):\n{string.Join('\n', errors.Take(10))}");
        }
        else
        {
            Assert.All(errors, error => Assert.Contains(": 503 ", error));
        }
        var startedAfterKill = new List<DateTimeOffset>();
        foreach (var (jobId, _) in accepted)
        {
            var job = await Eventually.ReturnsAsync(
                () => GetJobAsync(jobId), j => j is not null && (string?)j["status"] == "completed", TimeSpan.FromSeconds(120));
            Assert.True(job is not null, $"Job {jobId} got a 202 and is gone.");
            Assert.True((string?)job["status"] == "completed", $"Job {jobId} did not complete: {job.ToJsonString()}");
            startedAfterKill.Add(DateTimeOffset.Parse((string)job["started_at"]!, CultureInfo.InvariantCulture));
        }

        var killedAtWallClock = DateTimeOffset.UtcNow - (clock.Elapsed - killedAt);
        var nextStart = startedAfterKill.Where(s => s > killedAtWallClock).DefaultIfEmpty().Min();
        var firstAcceptedAfter = accepted.Where(a => a.At > killedAt).Min(a => a.At) - killedAt;
        TestContext.Current.SendDiagnosticMessage(
            $"Garnet killed: {accepted.Count} jobs accepted, {writesInFlight.Count} refused with a write in flight; first 202 after the kill {firstAcceptedAfter.TotalMilliseconds:0} ms later, " +
            $"next job start {(nextStart == default ? "none" : $"{(nextStart - killedAtWallClock).TotalMilliseconds:0} ms")} after the kill.");
        Console.WriteLine($"[RedisRestartTests] first 202 after the kill: {firstAcceptedAfter.TotalMilliseconds:0} ms; next job start: " +
            $"{(nextStart == default ? "none" : $"{(nextStart - killedAtWallClock).TotalMilliseconds:0} ms")} after the kill ({accepted.Count} jobs, all completed; {writesInFlight.Count} refused with a write in flight)");
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

    private async Task<JsonObject?> GetJobAsync(string jobId)
    {
        using var response = await Suite.Gateway.GetAsync($"/api/job/{jobId}", Token);
        return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadFromJsonAsync<JsonObject>(Token) : null;
    }

    private static JsonObject Prompt() => new()
    {
        ["1"] = new JsonObject
        {
            ["class_type"] = "TestProgressImage",
            ["inputs"] = new JsonObject { ["steps"] = 1, ["delay_ms"] = 1, ["seed"] = 1, ["width"] = 8, ["height"] = 8 },
        },
        ["2"] = new JsonObject
        {
            ["class_type"] = "SaveImage",
            ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = "redisrestart/job" },
        },
    };
}
