using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.AppHost.Extensions;

public static class SuiteModel
{
    /// <summary>
    /// The whole suite: Redis (the embedded Garnet or an existing server), the render nodes, every service with its
    /// replicas and the Gateway (and with <c>--agents N</c> the render agents in front of the emulated nodes), each started once what it waits for is healthy; a crashed process is restarted with
    /// back-off, and Ctrl+C stops everything in order.
    /// </summary>
    public static void AddDirectorsConsole(this IDistributedApplicationBuilder builder, AppHostSettings settings)
    {
        var ports = new LoopbackPorts();

        var redis = builder.AddRedisForEnvironment("redis", settings, ports);
        var comfyNodes = builder.AddComfyNodes(settings, ports);

        var paths = builder.AddSuiteService<Projects.DirectorsConsole_PathService>("path-service", settings, ports, settings.ReplicasOf("path-service")).WithRedis(redis);
        var jobs = builder.AddSuiteService<Projects.DirectorsConsole_JobService>("job-service", settings, ports, settings.ReplicasOf("job-service")).WithRedis(redis);
        var backends = builder.AddSuiteService<Projects.DirectorsConsole_BackendService>("backend-service", settings, ports, settings.ReplicasOf("backend-service"))
            .WithRedis(redis).WithComfyNodes(comfyNodes, settings);
        // GalleryService fetches a render agent's outputs from BackendService, which keeps them.
        var gallery = builder.AddSuiteService<Projects.DirectorsConsole_GalleryService>("gallery-service", settings, ports, settings.ReplicasOf("gallery-service")).WithRedis(redis)
            .WithServiceAddresses(backends);

        var gateway = builder.AddGateway(settings)
            .WithRedisClient(redis)
            .WithServiceReference(paths).WithServiceReference(jobs).WithServiceReference(backends).WithServiceReference(gallery);
        builder.AddRenderAgents(settings, comfyNodes, gateway);

        builder.CheckReplicas(settings);
        // A resource's health shows in the dashboard; the console would repeat every failed probe of every start-up.
        builder.Services.AddLogging(logging => logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddHostedService(services => ActivatorUtilities.CreateInstance<CrashedResourceRestarter>(services,
            (IReadOnlySet<string>)builder.Resources.Where(r => r is ProjectResource or LocalRedisResource).Select(r => r.Name).ToHashSet(StringComparer.Ordinal)));
        builder.Services.AddHostedService<OrderedShutdown>();
    }
}
