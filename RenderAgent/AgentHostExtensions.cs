using DirectorsConsole.Comfy;
using DirectorsConsole.RenderAgent;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

public static class AgentHostExtensions
{
    /// <summary>The render agent: its options (section <c>Agent</c>, validated at start), the ComfyUI clients, the
    /// orchestrator clients and the loops.</summary>
    public static IHostApplicationBuilder AddRenderAgent(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AgentOptions>()
            .Bind(builder.Configuration.GetSection(AgentOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.AddAgentTelemetry();

        // ComfyUI: never retried by a handler. A POST /prompt that timed out may have reached the node, so the runner
        // looks the prompt up in /queue and /history before it posts again.
        builder.Services.AddHttpClient(ComfyPromptClient.HttpClientName)
            .ConfigureHttpClient((services, client) => client.Timeout = services.GetRequiredService<IOptions<AgentOptions>>().Value.RequestTimeout);
        builder.Services.AddHttpClient(ComfyPromptClient.ViewHttpClientName)
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan);
        builder.Services.AddHttpClient<ComfyHttpClient>()
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan);
        builder.Services.AddSingleton<ComfyPromptClient>();

        // The orchestrator: a registration is safe to send again (it updates the same worker), so it gets the standard
        // resilience handler, bounded by Agent:RequestTimeout per attempt.
        builder.Services.AddHttpClient(OrchestratorClient.RegistrationHttpClientName)
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan)
            .AddStandardResilienceHandler()
            .Configure((HttpStandardResilienceOptions resilience, IServiceProvider services) =>
            {
                var timeout = services.GetRequiredService<IOptions<AgentOptions>>().Value.RequestTimeout;
                resilience.AttemptTimeout.Timeout = timeout;
                resilience.TotalRequestTimeout.Timeout = timeout * 3;
                resilience.CircuitBreaker.SamplingDuration = timeout * 2;
            });
        // Heartbeats, long polls, uploads and results: retried by their loops with back-off, not by a handler
        // (OrchestratorClient says why for each).
        builder.Services.AddHttpClient(OrchestratorClient.HttpClientName)
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan);

        builder.Services.AddSingleton<OrchestratorClient>();
        builder.Services.AddSingleton<OrchestratorSocket>();
        builder.Services.AddSingleton<Registration>();
        builder.Services.AddSingleton<HeldTasks>();
        builder.Services.AddSingleton<ComfyNode>();
        builder.Services.AddSingleton<TaskRunner>();
        builder.Services.AddHostedService<RenderAgentWorker>();
        return builder;
    }

    /// <summary>Traces (each task a span under the job's trace context, with its calls to ComfyUI and the suite)
    /// exported over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the AppHost sets it to its dashboard).</summary>
    private static void AddAgentTelemetry(this IHostApplicationBuilder builder)
    {
        if (string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            return;
        }

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(builder.Configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : "render-agent"))
            .WithTracing(tracing => tracing.AddSource(TaskRunner.ActivitySourceName).AddHttpClientInstrumentation())
            .UseOtlpExporter();
    }
}
