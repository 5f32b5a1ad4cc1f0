using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Extensions;

public static class GatewayExtensions
{
    public const string Name = "gateway";

    /// <summary>The suite's one public endpoint, bound exactly to <c>ORCHESTRATOR_HOST</c>:<c>ORCHESTRATOR_PORT</c>
    /// (no proxy in front, so clients see the Gateway itself). Refused up front when the port is taken, with the
    /// likely reason, instead of a Gateway that keeps failing to start.</summary>
    public static IResourceBuilder<ProjectResource> AddGateway(this IDistributedApplicationBuilder builder, AppHostSettings settings)
    {
        if (!LoopbackPorts.IsFree(settings.Host, settings.Port))
        {
            throw new AppHostConfigurationException(
                $"'{Name}' cannot listen on {settings.Host}:{settings.Port}: the port is in use (is the suite already running?). " +
                "Stop the other process or choose another port with --port or ORCHESTRATOR_PORT.");
        }

        return builder.AddSuiteProject<Projects.DirectorsConsole_Gateway>(Name, Name, 0, settings, settings.Host, settings.Port)
            .WithHttpHealthCheck("/health/self");
    }

    /// <summary>Every name in <c>--replicas</c> or config.yaml's replicas must be a service that can have them.</summary>
    public static void CheckReplicas(this IDistributedApplicationBuilder builder, AppHostSettings settings)
    {
        string[] replicable = ["path-service", "job-service", "backend-service", "gallery-service", ComfyNodeExtensions.EmulatorName];
        foreach (var (name, count) in settings.Replicas)
        {
            if (name == Name)
            {
                throw new AppHostConfigurationException(
                    $"--replicas {name}={count}: '{name}' cannot have replicas; it is the suite's single public endpoint on {settings.Host}:{settings.Port}.");
            }

            if (name == "redis")
            {
                throw new AppHostConfigurationException($"--replicas {name}={count}: '{name}' cannot have replicas.");
            }

            if (name == ComfyNodeExtensions.EmulatorName && settings.Agents > 0 && count != settings.Agents)
            {
                throw new AppHostConfigurationException(
                    $"--replicas {name}={count}: --agents {settings.Agents} runs one emulated node per agent; leave out the emulator's replicas.");
            }

            if (!replicable.Contains(name) || (name == ComfyNodeExtensions.EmulatorName && settings.ComfyNodes.Count > 0))
            {
                throw new AppHostConfigurationException(
                    $"--replicas {name}={count}: there is no resource '{name}'. Resources: {string.Join(", ", builder.Resources.Select(r => r.Name))}.");
            }
        }
    }
}
