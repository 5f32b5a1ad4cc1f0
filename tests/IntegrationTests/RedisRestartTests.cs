using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>The embedded Garnet killed with SIGKILL under a stream of submissions through the Gateway: the AppHost
/// restarts it, the services wait for it, and no accepted job is lost. The only errors allowed are for writes that were
/// already sent when the connection broke: JobService never sends those twice (they may have been carried out), and
/// answers 503 with Retry-After; retrying them is the Gateway's job.</summary>
[Collection(nameof(SuiteCollection))]
public sealed class RedisRestartTests(RunningSuiteFixture fixture)
{
    private const int Submitters = 4;
    private const int AcceptedBeforeKill = 40;
    private const int AcceptedAfterRestart = 40;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private SuiteProcess Suite => fixture.Suite;

    [Fact]
    public async Task SubmissionsRideOutGarnetKilledAndRestartedByTheAppHost()
    {
        await Suite.WaitForHealthAsync(status => status == "ok", TimeSpan.FromSeconds(120), Token, SuiteProcess.AllServicesHealthy);
        var garnetPid = Suite.FindServicePid("GarnetServer");
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
                    using var response = await Suite.Gateway.PostAsJsonAsync("/api/job", new { workflow_json = Prompt() }, stop.Token);
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
                catch (HttpRequestException ex)
                {
                    errors.Enqueue($"{clock.Elapsed.TotalSeconds:0.000} s: {ex.Message}");
                }
            }
        }, Token)).ToArray();

        await Eventually.ReturnsAsync(() => Task.FromResult(accepted.Count), n => n >= AcceptedBeforeKill, TimeSpan.FromSeconds(60));
        var killedAt = clock.Elapsed;
        SuiteProcess.Kill(garnetPid);
        var restarted = await Eventually.ReturnsAsync(
            () => Task.FromResult(Suite.FindSuiteProcesses().Any(p => p.Pid != garnetPid && p.CommandLine.Contains("GarnetServer.dll", StringComparison.Ordinal))),
            found => found, TimeSpan.FromSeconds(60));
        Assert.True(restarted, "The AppHost did not restart Garnet.");
        await Eventually.ReturnsAsync(() => Task.FromResult(accepted.Count(a => a.At > killedAt)), n => n >= AcceptedAfterRestart, TimeSpan.FromSeconds(90));
        await stop.CancelAsync();
        await Task.WhenAll(submitters);

        Assert.True(errors.IsEmpty, $"{errors.Count} submissions failed (Garnet killed at {killedAt.TotalSeconds:0.000} s):\n{string.Join('\n', errors.Take(10))}");
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
