using System.Text.Json;
using DirectorsConsole.BackendService.Agents;
using DirectorsConsole.BackendService.Comfy;
using DirectorsConsole.Comfy;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.ServiceDefaults.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>The backend service's dependencies: the render-node registry (seeded from config.yaml and
/// <c>ORCHESTRATOR_COMFY_NODES</c>), runtime state, per-backend leases and the workers each lease runs. The wire
/// format is snake_case.</summary>
internal static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.ConfigureApiJson(JsonNamingPolicy.SnakeCaseLower);

        services.AddOptions<BackendSeedOptions>()
            .Configure<IConfiguration>(BackendSeedOptions.Read)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<BackendSeedOptions>, BackendSeedOptionsValidator>();
        services.AddOptions<BackendLeaseOptions>()
            .Bind(builder.Configuration.GetSection(BackendLeaseOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddOptions<BackendProbeOptions>()
            .Bind(builder.Configuration.GetSection(BackendProbeOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();

        // No retries: the probe loop is the retry of a failed probe (and counts the failure), and a repeated
        // POST /interrupt could stop the prompt that started after the first one.
        services.AddHttpClient(ComfyHttpClient.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => BackendHostPolicy.CreateHandler(connectTimeout: TimeSpan.FromSeconds(5)))
            .WithoutRetries()
            .AddTypedClient<ComfyHttpClient>();

        services.AddSingleton<BackendRegistry>();
        services.AddSingleton<BackendStateStore>();
        services.AddSingleton<BackendReplica>();
        services.AddHostedService<BackendSeeder>();

        // Every IBackendWorker runs once per backend whose lease this replica holds.
        services.AddSingleton<NodeMonitorReadings>();
        services.AddSingleton<IBackendWorker, BackendProbeWorker>();
        builder.AddRenderDispatch();

        // Render agents: their presence, tasks, sockets and uploaded outputs.
        services.AddOptions<AgentOptions>()
            .Bind(builder.Configuration.GetSection(AgentOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>();
        services.AddSingleton<AgentPresenceStore>();
        services.AddSingleton<AgentOutputStore>();
        services.AddSingleton<AgentTaskBroker>();
        services.AddSingleton<AgentSockets>();
        services.AddHostedService(sp => sp.GetRequiredService<AgentSockets>());

        services.AddSingleton<BackendLeaseManager>();
        services.AddHostedService(sp => sp.GetRequiredService<BackendLeaseManager>());
        return builder;
    }
}
