using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>Every Redis command a request causes is a span of that request's trace (StackExchange.Redis's
/// OpenTelemetry instrumentation, which the services register with the Redis client), so a trace shows where a slow
/// request spent its time in Redis.</summary>
public sealed class RedisTracingTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RedisCommandsAreSpansOfTheRequestThatCausedThem()
    {
        using var redisSpans = new RedisSpans();
        var spans = redisSpans.All;
        await using var garnet = await RedisServerProcess.StartGarnetAsync(cancellationToken: Token);
        await using var service = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = service.CreateClient();

        var submitTrace = ActivityTraceId.CreateRandom();
        var callerSpan = ActivitySpanId.CreateRandom();
        using var submit = new HttpRequestMessage(HttpMethod.Post, "/api/job")
        {
            Content = JsonContent.Create(new { workflow_json = EngineRig.Prompt(2, 10) }),
        };
        submit.Headers.Add("traceparent", $"00-{submitTrace}-{callerSpan}-01");
        using var submitted = await client.SendAsync(submit, Token);
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var jobId = (string)(await submitted.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_id"]!;

        var readTrace = ActivityTraceId.CreateRandom();
        using var read = new HttpRequestMessage(HttpMethod.Get, $"/api/job/{jobId}");
        read.Headers.Add("traceparent", $"00-{readTrace}-{callerSpan}-01");
        using var answered = await client.SendAsync(read, Token);
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);

        // The instrumentation reports commands in batches (every few seconds), so wait for both requests' spans.
        await Eventually.ReturnsAsync(() => Task.FromResult(spans.Count(s => s.TraceId == submitTrace) > 0 && spans.Count(s => s.TraceId == readTrace) > 0),
            both => both, TimeSpan.FromSeconds(60));
        var submitSpans = spans.Where(s => s.TraceId == submitTrace).ToList();
        var readSpans = spans.Where(s => s.TraceId == readTrace).ToList();

        Assert.NotEmpty(submitSpans);
        Assert.NotEmpty(readSpans);
        Assert.Contains(submitSpans, s => s.DisplayName.StartsWith("EVAL", StringComparison.Ordinal));
        Assert.All(submitSpans.Concat(readSpans), s =>
        {
            Assert.Equal(ActivityKind.Client, s.Kind);
            Assert.Equal("redis", (s.GetTagItem("db.system.name") ?? s.GetTagItem("db.system"))?.ToString());
            // Below the service's own span for the request, not hung directly off the caller's.
            Assert.NotEqual(default, s.ParentSpanId);
            Assert.NotEqual(callerSpan, s.ParentSpanId);
        });
    }
}
