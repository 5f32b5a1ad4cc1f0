using System.Reflection;
using System.Text.Json;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.ServiceDefaults.Configuration;
using DirectorsConsole.ServiceDefaults.Durability;
using DirectorsConsole.ServiceDefaults.Errors;
using DirectorsConsole.ServiceDefaults.Hosting;
using DirectorsConsole.ServiceDefaults.Logging;
using DirectorsConsole.ServiceDefaults.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.OpenApi;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What every DirectorsConsole service shares, in one call each, in the shape of the Aspire service template:
/// configuration (appsettings, config.yaml, environment), OpenTelemetry, console and rolling-file logs, health
/// checks, service discovery and resilience for outgoing HTTP, the error format, OpenAPI and the Redis client.
/// </summary>
public static class ServiceDefaultsExtensions
{
    public const string HealthPath = "/health";
    public const string AlivePath = "/alive";
    public const string OpenApiPath = "/openapi/v1.json";
    private const string LiveTag = "live";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder, string defaultServiceName)
        where TBuilder : IHostApplicationBuilder
    {
        var serviceName = builder.Configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } configured ? configured : defaultServiceName;
        var identity = new ServiceIdentity(
            serviceName,
            ServiceIdentity.VersionOf(Assembly.GetEntryAssembly()),
            builder.Configuration["OTEL_SERVICE_INSTANCE_ID"] ?? $"{serviceName}-{Environment.ProcessId}");
        builder.Services.AddSingleton(identity);
        builder.Services.AddSingleton(TimeProvider.System);

        builder.AddOrchestratorConfiguration();
        builder.AddLogFile(serviceName);
        builder.ConfigureOpenTelemetry(identity);
        builder.AddDefaultHealthChecks();

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            // A retry sends the request again: a client whose request may start work (a prompt, a write) must
            // opt out with WithoutRetries. docs/architecture.md lists every client and its choice.
            // One circuit breaker per host, so one dead render node does not stop calls to the others.
            http.AddStandardResilienceHandler().SelectPipelineByAuthority();
            http.AddServiceDiscovery();
        });

        builder.AddRedisMessaging();
        builder.AddRedisDurabilityMonitor();
        builder.Services.AddApiErrorHandling();
        builder.AddRequestLimits();
        builder.AddKestrelRejectionProblems();

        builder.Services.AddEndpointsApiExplorer();
        builder.Services.AddSwaggerGen(options =>
        {
            options.SwaggerDoc("v1", new OpenApiInfo { Title = serviceName, Version = identity.Version });
            options.SupportNonNullableReferenceTypes();
        });
        return builder;
    }

    /// <summary>A liveness check that only says the process answers; readiness checks (Redis, durability)
    /// are added by the features that need them.</summary>
    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    /// <summary>
    /// Adds config.yaml (<c>ORCHESTRATOR_CONFIG</c>, default <c>./config.yaml</c>) above appsettings.json and
    /// <c>ORCHESTRATOR_*</c> variables above that, then the plain environment and command line as before.
    /// Binds and validates <see cref="OrchestratorOptions"/>.
    /// </summary>
    public static IHostApplicationBuilder AddOrchestratorConfiguration(this IHostApplicationBuilder builder)
    {
        var configFile = OrchestratorOptions.LocateConfigFile(builder.Configuration);
        var sources = builder.Configuration.Sources;
        var afterJson = sources.Select((source, index) => (source, index))
            .LastOrDefault(s => s.source is JsonConfigurationSource).index + 1;
        var orchestratorVariables = new ConfigurationBuilder().AddEnvironmentVariables("ORCHESTRATOR_").Sources[0];
        sources.Insert(afterJson, new YamlConfigurationSource(configFile));
        sources.Insert(afterJson + 1, orchestratorVariables);

        builder.Services.AddOptions<OrchestratorOptions>()
            .Bind(builder.Configuration)
            .Configure(options => options.ConfigFile = configFile)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<AccessOptions>().Bind(builder.Configuration).ValidateOnStart();
        builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<AccessOptions>, AccessOptionsValidator>();
        return builder;
    }

    /// <summary>Logs to <c>{log_dir}/{service}.log</c> as well as the console.</summary>
    public static IHostApplicationBuilder AddLogFile(this IHostApplicationBuilder builder, string serviceName)
    {
        var options = new OrchestratorOptions { ConfigFile = OrchestratorOptions.LocateConfigFile(builder.Configuration) };
        builder.Configuration.Bind(options);
        var path = Path.Combine(options.LogDirectory, $"{serviceName}.log");
        builder.Logging.AddProvider(new RollingFileLoggerProvider(path));
        // The console is a pipe the AppHost's launcher reads: on a busy machine it may fall behind. Its lines are then
        // dropped (the file and OpenTelemetry still get them) rather than holding the request that logged.
        builder.Services.Configure<ConsoleLoggerOptions>(console => console.QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite);
        return builder;
    }

    /// <summary>Maps <c>/health</c> (readiness: every check, Redis included), <c>/alive</c> (liveness) and
    /// <c>/openapi/v1.json</c>, and installs the error handlers, the <see cref="GatewayOnlyGuard"/> (a service answers only
    /// what the Gateway forwarded), the <see cref="RequestGuard"/> and the durability guard (state-changing requests are
    /// refused with 507 while Redis cannot persist them). The Gateway, whose <c>/health</c> speaks for the whole suite and
    /// which decides access itself, maps its own readiness at another <paramref name="healthPath"/> and passes
    /// <paramref name="behindGateway"/> false.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app, string healthPath = HealthPath, bool behindGateway = true)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        if (behindGateway)
        {
            app.UseGatewayOnlyGuard(healthPath, AlivePath);
        }

        app.Use(RequestGuard.InvokeAsync);
        app.UseDurabilityGuard();

        app.MapHealthChecks(healthPath, new HealthCheckOptions { ResponseWriter = WriteHealthAsync });
        app.MapHealthChecks(AlivePath, new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(LiveTag),
            ResponseWriter = WriteHealthAsync,
        });
        app.UseSwagger(options => options.RouteTemplate = "openapi/{documentName}.json");
        app.MapPrometheusScrapingEndpoint(TelemetryExtensions.ScrapePath);
        return app;
    }

    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        var identity = context.RequestServices.GetRequiredService<ServiceIdentity>();
        context.Response.ContentType = "application/json";
        if (context.Response.StatusCode == StatusCodes.Status503ServiceUnavailable)
        {
            context.Response.Headers.RetryAfter = ApiErrorHandling.RetryAfterSeconds;
        }

        var body = new
        {
            status = report.Status.ToString().ToLowerInvariant(),
            service = identity.Name,
            instance = identity.InstanceId,
            version = identity.Version,
            checks = report.Entries.ToDictionary(
                entry => entry.Key,
                entry => new
                {
                    status = entry.Value.Status.ToString().ToLowerInvariant(),
                    description = entry.Value.Description ?? entry.Value.Exception?.Message,
                    duration_ms = Math.Round(entry.Value.Duration.TotalMilliseconds, 1),
                }),
        };
        return JsonSerializer.SerializeAsync(context.Response.Body, body, cancellationToken: context.RequestAborted);
    }
}
