using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// While no backend can take a job, submits still wake the scheduler, but a pass could only fail jobs that waited out
/// the offline grace: it reads the queued jobs at most once per <c>SchedulerInterval</c>, not at every wake-up. (A
/// pass reads up to <c>SchedulerScanLimit</c> whole jobs; at every submit batch that was most of JobService's CPU
/// under sustained submits with the nodes down.)
/// </summary>
public sealed class SchedulerWithoutBackendsTests
{
    private const int Jobs = 30;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SubmitsWhileNoBackendCanRunThemDoNotMakeTheSchedulerReadTheQueueEachTime()
    {
        // Arrange: JobService with no backend registered, its clock standing still (so no interval ever passes)
        using var redisSpans = new RedisSpans();
        await using var garnet = await RedisServerProcess.StartGarnetAsync(cancellationToken: Token);
        // Tests of other classes run beside this one, each with a server of its own: only this server's commands count.
        var spans = redisSpans.To(garnet.Port);
        await using var service = new ServiceFactory<Program>(garnet.ConnectionString,
            configureServices: services => services.AddSingleton<TimeProvider>(new StoppedClock(DateTimeOffset.UtcNow)));
        using var client = service.CreateClient();

        // Act: submits one after another, each its own batch and its own wake-up of the scheduler
        var jobIds = new List<string>();
        for (var i = 0; i < Jobs; i++)
        {
            using var submitted = await client.PostAsJsonAsync("/api/job", new { workflow_json = EngineRig.Prompt(1, 0, i) }, Token);
            Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
            jobIds.Add((string)(await submitted.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_id"]!);
        }

        // A read in a trace of its own marks when the instrumentation (which reports in batches) has caught up.
        var markTrace = ActivityTraceId.CreateRandom();
        using var read = new HttpRequestMessage(HttpMethod.Get, $"/api/job/{jobIds[^1]}");
        read.Headers.Add("traceparent", $"00-{markTrace}-{ActivitySpanId.CreateRandom()}-01");
        using var answered = await client.SendAsync(read, Token);
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        await Eventually.ReturnsAsync(() => Task.FromResult(spans.Any(s => s.TraceId == markTrace)), seen => seen, TimeSpan.FromSeconds(60));

        // Assert: the jobs read outside any request (the scheduler's passes) are at most one pass's worth, not one
        // pass per submit (which would be about Jobs × Jobs / 2 reads)
        var passReads = spans.Count(s => s.TraceId != markTrace && s.ParentSpanId == default && s.DisplayName.StartsWith("HMGET", StringComparison.Ordinal));
        var queueReads = spans.Count(s => s.ParentSpanId == default && s.DisplayName.Split(' ')[0] == "ZRANGE");
        TestContext.Current.TestOutputHelper?.WriteLine($"{Jobs} submits: the scheduler read {passReads} jobs in {queueReads} reads of its queues");
        Assert.InRange(passReads, 0, Jobs);
        foreach (var jobId in jobIds)
        {
            using var job = await client.GetAsync($"/api/job/{jobId}", Token);
            Assert.Equal("queued", (string?)(await job.Content.ReadFromJsonAsync<JsonObject>(Token))!["status"]);
        }
    }

    /// <summary>"Now" stands still; timers still run on the system clock.</summary>
    private sealed class StoppedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
