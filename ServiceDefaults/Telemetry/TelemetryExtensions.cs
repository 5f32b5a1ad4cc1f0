using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.ServiceDefaults.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace DirectorsConsole.ServiceDefaults.Telemetry;

/// <summary>
/// Logs, traces and metrics through OpenTelemetry.Extensions.Hosting, as the Aspire service template wires
/// them: ASP.NET Core, HttpClient and runtime instrumentation plus the suite's own sources and meters
/// (every name under <see cref="SourcePrefix"/>). Data leaves the process only when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the AppHost sets it to the dashboard), or when scraped at
/// <see cref="ScrapePath"/> (Prometheus text).
/// </summary>
public static partial class TelemetryExtensions
{
    /// <summary>The ActivitySource and Meter name prefix of the suite's own code.</summary>
    public const string SourcePrefix = "DirectorsConsole";

    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>Each service's own Prometheus scrape endpoint; the gateway's <c>/_public/metrics</c> merges them.</summary>
    public const string ScrapePath = "/metrics";

    /// <summary>Probes that arrive every second from the gateway and the AppHost; as spans they would bury
    /// the requests an operator is looking for.</summary>
    private static readonly string[] ProbePaths = ["/health", "/alive", ScrapePath];

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder, ServiceIdentity identity)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(identity.Name, serviceVersion: identity.Version, serviceInstanceId: identity.InstanceId))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter($"{SourcePrefix}.*")
                .AddPrometheusExporter()
                .OnlyThisHostsMeters())
            .WithTracing(tracing => tracing
                .AddSource($"{SourcePrefix}.*")
                .AddAspNetCoreInstrumentation(aspNetCore =>
                {
                    aspNetCore.Filter = context => !IsProbe(context.Request.Path);
                    aspNetCore.EnrichWithHttpRequest = RedactClientToken;
                })
                .AddHttpClientInstrumentation(http => http.FilterHttpRequestMessage =
                    request => request.RequestUri is not { } uri || !IsProbe(new PathString(uri.AbsolutePath))));

        if (!string.IsNullOrWhiteSpace(builder.Configuration[OtlpEndpointKey]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>
    /// A meter provider listens to every meter of a matching name in the process, including those another host's
    /// <see cref="IMeterFactory"/> made (several hosts share a process in tests, and behind one test server). Left
    /// alone, this host would export the other host's ASP.NET Core and job-engine instruments as duplicate series, and
    /// would lose its own instruments' stream when the other host is disposed. A meter made by another host's factory
    /// is dropped here; meters without a factory (the runtime's, which are process-wide anyway) are kept.
    /// </summary>
    private static MeterProviderBuilder OnlyThisHostsMeters(this MeterProviderBuilder metrics) =>
        ((IDeferredMeterProviderBuilder)metrics).Configure(static (services, configured) =>
            configured.AddView(MadeByAnotherHost(services.GetRequiredService<IMeterFactory>())));

    private static Func<Instrument, MetricStreamConfiguration?> MadeByAnotherHost(IMeterFactory own) =>
        instrument => instrument.Meter.Scope is IMeterFactory factory && !ReferenceEquals(factory, own)
            ? MetricStreamConfiguration.Drop
            : null;

    /// <summary>A browser's WebSocket may carry its client token in the query; a span never keeps it, even when the
    /// instrumentation's own redaction of query values is switched off.</summary>
    public static void RedactClientToken(Activity activity, HttpRequest request)
    {
        if (request.Query.ContainsKey(AccessHeaders.TokenQueryParameter) && activity.GetTagItem(UrlQueryTag) is string query)
        {
            activity.SetTag(UrlQueryTag, TokenValue().Replace(query, "Redacted"));
        }
    }

    private const string UrlQueryTag = "url.query";

    [GeneratedRegex($"(?<=(^|[?&]){AccessHeaders.TokenQueryParameter}=)[^&]*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex TokenValue();

    private static bool IsProbe(PathString path) => ProbePaths.Any(probe => path.StartsWithSegments(probe));
}
