using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.Messaging;

/// <summary>
/// Typed events over Redis pub/sub. Each message is a JSON envelope naming the event type and carrying the
/// publisher's W3C trace context; a subscriber runs its handler inside a consumer activity parented by that
/// context, so one trace covers the publisher and every consumer. A subscriber ignores envelopes of other
/// types, so several event types can share a channel.
/// </summary>
public sealed class RedisEventBus(IRedisConnection redis, IRedisSubscriber subscriber, ILogger<RedisEventBus> logger, TimeProvider timeProvider)
    : IEventBus
{
    internal static readonly JsonSerializerOptions EnvelopeJson = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    internal static readonly JsonSerializerOptions DataJson = new(JsonSerializerDefaults.Web);

    public async Task PublishAsync<TEvent>(string channel, TEvent @event, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        using var activity = RedisTelemetry.Source.StartActivity($"publish {channel}", ActivityKind.Producer);
        activity?.SetTag("messaging.system", "redis");
        activity?.SetTag("messaging.destination.name", channel);
        var (traceParent, traceState) = TraceContext.Capture(activity);
        var envelope = new EventEnvelope(
            typeof(TEvent).Name,
            traceParent,
            traceState,
            timeProvider.GetUtcNow().UtcDateTime,
            JsonSerializer.SerializeToElement(@event, DataJson));
        await redis.PublishAsync(channel, JsonSerializer.SerializeToUtf8Bytes(envelope, EnvelopeJson), cancellationToken).ConfigureAwait(false);
    }

    public Task<IAsyncDisposable> SubscribeAsync<TEvent>(
        string channel,
        Func<TEvent, CancellationToken, Task> handler,
        Func<CancellationToken, Task>? onResubscribed = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var typeName = typeof(TEvent).Name;
        return subscriber.SubscribeAsync(
            channel,
            async (actualChannel, payload, token) =>
            {
                EventEnvelope? envelope;
                try
                {
                    envelope = JsonSerializer.Deserialize<EventEnvelope>(payload.Span, EnvelopeJson);
                }
                catch (JsonException ex)
                {
                    logger.LogWarning(ex, "Ignored a message on {Channel} that is not an event envelope", actualChannel);
                    return;
                }

                if (envelope is null || envelope.Type != typeName)
                {
                    return;
                }

                using var activity = RedisTelemetry.Source.StartActivity(
                    $"receive {actualChannel}", ActivityKind.Consumer, TraceContext.Parse(envelope.Traceparent, envelope.Tracestate));
                activity?.SetTag("messaging.system", "redis");
                activity?.SetTag("messaging.destination.name", actualChannel);
                var @event = envelope.Data.Deserialize<TEvent>(DataJson);
                if (@event is null)
                {
                    logger.LogWarning("Ignored a {EventType} on {Channel} with no data", typeName, actualChannel);
                    return;
                }

                await handler(@event, token).ConfigureAwait(false);
            },
            onResubscribed,
            pattern: false,
            cancellationToken);
    }

    internal sealed record EventEnvelope(string Type, string? Traceparent, string? Tracestate, DateTime PublishedAt, JsonElement Data);
}
