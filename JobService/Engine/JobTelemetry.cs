using System.Diagnostics;

namespace DirectorsConsole.JobService.Engine;

/// <summary>The tracing source of the job engine: its name starts with the suite's prefix, so the service's tracer
/// exports it with the rest.</summary>
public static class JobTelemetry
{
    public const string ActivitySourceName = "DirectorsConsole.Jobs";

    internal static readonly ActivitySource Source = new(ActivitySourceName);
}
