using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace DirectorsConsole.ServiceDefaults.Telemetry;

/// <summary>
/// OpenTelemetry wired by hand, because OpenTelemetry.Extensions.Hosting and the instrumentation packages
/// cannot be restored here. ASP.NET Core, HttpClient, Kestrel and the runtime already
/// publish ActivitySources and Meters; listening to them by name gives the same spans and metrics.
/// Data leaves the process only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
/// </summary>
public static class OpenTelemetrySetup
{
    /// <summary>The ActivitySource and Meter name prefix of the suite's own code.</summary>
    public const string SourcePrefix = "DirectorsConsole";

    private static readonly string[] FrameworkSources = ["Microsoft.AspNetCore", "System.Net.Http"];
    private static readonly string[] FrameworkMeters =
    [
        "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Http.Connections",
        "Microsoft.AspNetCore.Routing", "Microsoft.AspNetCore.Diagnostics", "Microsoft.AspNetCore.RateLimiting",
        "System.Net.Http", "System.Net.NameResolution", "System.Runtime",
    ];

    public static IHostApplicationBuilder AddOpenTelemetryByHand(this IHostApplicationBuilder builder, string serviceName)
    {
        var otlpEndpoint = builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
        var exportOtlp = !string.IsNullOrWhiteSpace(otlpEndpoint);
        var version = Assembly.GetEntryAssembly()?.GetName().Version?.ToString() ?? "0.0.0";
        var resource = ResourceBuilder.CreateDefault().AddService(
            serviceName,
            serviceVersion: version,
            serviceInstanceId: builder.Configuration["OTEL_SERVICE_INSTANCE_ID"] ?? $"{serviceName}-{Environment.ProcessId}");

        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.SetResourceBuilder(resource);
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
            if (exportOtlp)
            {
                logging.AddOtlpExporter();
            }
        });

        builder.Services.AddSingleton(_ =>
        {
            var tracing = Sdk.CreateTracerProviderBuilder()
                .SetResourceBuilder(resource)
                .AddSource(FrameworkSources)
                .AddSource($"{SourcePrefix}.*");
            if (exportOtlp)
            {
                tracing.AddOtlpExporter();
            }

            var metrics = Sdk.CreateMeterProviderBuilder()
                .SetResourceBuilder(resource)
                .AddMeter(FrameworkMeters)
                .AddMeter($"{SourcePrefix}.*");
            if (exportOtlp)
            {
                metrics.AddOtlpExporter();
            }

            return new TelemetryProviders(tracing.Build(), metrics.Build());
        });
        builder.Services.AddHostedService<TelemetryProvidersHost>();
        return builder;
    }

    /// <summary>The providers must exist before the first request so the listeners are attached.</summary>
    internal sealed record TelemetryProviders(TracerProvider? Tracing, MeterProvider? Metrics) : IDisposable
    {
        public void Dispose()
        {
            Tracing?.Dispose();
            Metrics?.Dispose();
        }
    }

    private sealed class TelemetryProvidersHost(TelemetryProviders providers) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken)
        {
            providers.Tracing?.ForceFlush(2000);
            providers.Metrics?.ForceFlush(2000);
            return Task.CompletedTask;
        }
    }
}
