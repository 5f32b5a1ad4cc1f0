using System.Collections.Concurrent;
using System.Diagnostics;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>Collects the spans of every Redis command made in this process (StackExchange.Redis's OpenTelemetry
/// instrumentation, which the services register with the Redis client) while it lives. The instrumentation reports
/// commands in batches, every few seconds.</summary>
public sealed class RedisSpans : IDisposable
{
    private const string RedisSource = "OpenTelemetry.Instrumentation.StackExchangeRedis";

    private readonly ConcurrentQueue<Activity> _spans = new();
    private readonly ActivityListener _listener;

    public RedisSpans()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == RedisSource,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _spans.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public IReadOnlyCollection<Activity> All => _spans;

    /// <summary>The spans of commands sent to the server on <paramref name="port"/>, as they stand when enumerated.</summary>
    public IEnumerable<Activity> To(int port) =>
        _spans.Where(span => span.GetTagItem("server.port") is { } value && Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture) == port);

    public void Dispose() => _listener.Dispose();
}
