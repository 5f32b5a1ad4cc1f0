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

    public static ActivityContext Parse(string? traceParent, string? traceState) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var context)
            ? context
            : default;
}
