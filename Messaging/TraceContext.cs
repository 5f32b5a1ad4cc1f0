using System.Diagnostics;

namespace DirectorsConsole.Messaging;

/// <summary>W3C trace context carried inside messages and stored records, so a trace continues across Redis and
/// across work a background loop picks up later.</summary>
public static class TraceContext
{
    /// <summary>The traceparent/tracestate of <paramref name="activity"/>, or of the current activity.</summary>
    public static (string? TraceParent, string? TraceState) Capture(Activity? activity)
    {
        activity ??= Activity.Current;
        return activity is { IdFormat: ActivityIdFormat.W3C } ? (activity.Id, activity.TraceStateString) : (null, null);
    }

    /// <summary>The traceparent/tracestate of <paramref name="context"/> (null for none): for a span that was not
    /// recorded here, whose context the message still carries on.</summary>
    public static (string? TraceParent, string? TraceState) Capture(ActivityContext context) =>
        context == default
            ? (null, null)
            : ($"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{((context.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? "01" : "00")}",
                context.TraceState);

    public static ActivityContext Parse(string? traceParent, string? traceState) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var context)
            ? context
            : default;
}
