using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

public sealed class RedisEventBusTests(RedisTestServers servers)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    public sealed record RenderProgress(string JobId, int Percent);

    public sealed record RenderFinished(string JobId);

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task EventsArriveWithThePublishersTraceContext(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        using var listener = ListenTo(RedisTelemetry.ActivitySourceName, "DirectorsConsole.Tests");
        using var testSource = new ActivitySource("DirectorsConsole.Tests");
        var options = RedisTestServers.Options(server.ConnectionString);
        await using var redis = new RedisConnection(options);
        await using var subscriber = new RedisSubscriber(options);
        var bus = new RedisEventBus(redis, subscriber, NullLogger<RedisEventBus>.Instance, TimeProvider.System);
        var channel = RedisTestServers.UniqueName("events");
        var received = Channel.CreateUnbounded<(RenderProgress Event, ActivityTraceId TraceId, ActivitySpanId ParentSpanId)>();
        var finished = Channel.CreateUnbounded<RenderFinished>();

        await using var progressSubscription = await bus.SubscribeAsync<RenderProgress>(channel, (e, _) =>
            received.Writer.WriteAsync((e, Activity.Current!.TraceId, Activity.Current.ParentSpanId), ct).AsTask(), cancellationToken: ct);
        await using var finishedSubscription = await bus.SubscribeAsync<RenderFinished>(channel, (e, _) =>
            finished.Writer.WriteAsync(e, ct).AsTask(), cancellationToken: ct);
        ActivityTraceId publisherTrace;
        using (var publisher = testSource.StartActivity("publisher"))
        {
            publisherTrace = publisher!.TraceId;
            await bus.PublishAsync(channel, new RenderProgress("job-1", 40), ct);
        }

        await bus.PublishAsync(channel, new RenderFinished("job-1"), ct);

        var (progress, traceId, parentSpanId) = await received.Reader.ReadAsync(ct).AsTask().WaitAsync(Patience, ct);
        Assert.Equal(new RenderProgress("job-1", 40), progress);
        Assert.Equal(publisherTrace, traceId);
        Assert.NotEqual(default, parentSpanId);
        // Each subscriber only sees its own event type, though both share the channel.
        Assert.Equal(new RenderFinished("job-1"), await finished.Reader.ReadAsync(ct).AsTask().WaitAsync(Patience, ct));
        Assert.False(received.Reader.TryRead(out _));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task TheEnvelopeIsSnakeCaseWithAUtcTimestamp(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        var options = RedisTestServers.Options(server.ConnectionString);
        await using var redis = new RedisConnection(options);
        await using var subscriber = new RedisSubscriber(options);
        var bus = new RedisEventBus(redis, subscriber, NullLogger<RedisEventBus>.Instance, TimeProvider.System);
        var channel = RedisTestServers.UniqueName("envelope");
        var raw = Channel.CreateUnbounded<string>();
        await using var subscription = await subscriber.SubscribeAsync(channel,
            (_, payload, _) => raw.Writer.WriteAsync(Encoding.UTF8.GetString(payload.Span), ct).AsTask(), cancellationToken: ct);

        await bus.PublishAsync(channel, new RenderProgress("job-2", 7), ct);

        using var envelope = JsonDocument.Parse(await raw.Reader.ReadAsync(ct).AsTask().WaitAsync(Patience, ct));
        var root = envelope.RootElement;
        Assert.Equal(nameof(RenderProgress), root.GetProperty("type").GetString());
        Assert.EndsWith("Z", root.GetProperty("published_at").GetString());
        Assert.Equal("job-2", root.GetProperty("data").GetProperty("jobId").GetString());
        Assert.Equal(7, root.GetProperty("data").GetProperty("percent").GetInt32());
    }

    internal static ActivityListener ListenTo(params string[] sources)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => sources.Contains(source.Name),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }
}
