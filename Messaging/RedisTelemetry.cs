using System.Diagnostics;

namespace DirectorsConsole.Messaging;

/// <summary>The tracing source of the Redis client; add <see cref="ActivitySourceName"/> to the tracer.</summary>
public static class RedisTelemetry
{
    public const string ActivitySourceName = "DirectorsConsole.Redis";

    internal static readonly ActivitySource Source = new(ActivitySourceName);
}
