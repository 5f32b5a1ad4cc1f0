using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace DirectorsConsole.Gateway.Tests;

/// <summary>The gateway's telemetry as ServiceDefaults configures it, read from the spans its tracer ends (the
/// fake service runs in the same process, so its span is seen too).</summary>
public sealed class TracingTests(GarnetFixture garnet)
{
    [Fact]
    public async Task AForwardedRequestIsOneTraceFromTheGatewayToTheService()
    {
        // Arrange
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var service = await FakeService.StartAsync("job-service", 0, cancellationToken);
        var ended = new EndedSpans();
        var (factory, client) = GatewayFixture.StartGateway(
            garnet,
            new Dictionary<string, string?> { ["services:job-service:http:0"] = service.Address.ToString() },
            services => services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddProcessor(ended)));
        await using var _ = factory;
        using var __ = client;

        // Act
        var echo = await client.GetFromJsonAsync<JsonObject>("/api/jobs/traced", cancellationToken);
        var received = ActivityContext.Parse((string)echo!["traceparent"]!, null);
        var spans = await Eventually.ReturnsAsync(
            () => Task.FromResult(ended.OfTrace(received.TraceId)),
            trace => trace.Any(span => span.SpanId == received.SpanId)
                     && trace.Any(span => span.Kind == ActivityKind.Server && span.DisplayName.Contains("/api/jobs", StringComparison.Ordinal)));

        // Assert: the service's parent span is the gateway's forwarding call, a child of the gateway's own request.
        var forward = Assert.Single(spans, span => span.SpanId == received.SpanId);
        Assert.Equal(ActivityKind.Client, forward.Kind);
        var incoming = Assert.Single(spans, span => span.SpanId == forward.ParentSpanId);
        Assert.Equal(ActivityKind.Server, incoming.Kind);
        Assert.Contains("/api/jobs", incoming.DisplayName, StringComparison.Ordinal);
    }

    /// <summary>Every span the gateway's tracer ends, safe to read while requests are still ending spans.</summary>
    private sealed class EndedSpans : BaseProcessor<Activity>
    {
        private readonly ConcurrentQueue<Activity> _ended = new();

        public override void OnEnd(Activity data) => _ended.Enqueue(data);

        public IReadOnlyList<Activity> OfTrace(ActivityTraceId traceId) => _ended.Where(span => span.TraceId == traceId).ToArray();
    }
}
