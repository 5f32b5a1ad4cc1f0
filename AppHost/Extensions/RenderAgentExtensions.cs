using System.Net;
using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Extensions;

public static class RenderAgentExtensions
{
    public const string Name = "render-agent";

    /// <summary>The shared worker token the Gateway accepts on <c>/_worker</c> besides config.yaml's.</summary>
    public const string WorkerTokenVariable = "ORCHESTRATOR_WORKER_TOKEN";

    /// <summary>
    /// With <c>--agents N</c>: one render agent (RenderAgent/) in front of each emulated node, as on a render host the
    /// suite cannot reach. Each pulls its work through the Gateway with this run's generated worker token (worker id =
    /// its resource name) and talks to its node alone; BackendService is never told the nodes' addresses.
    /// </summary>
    public static void AddRenderAgents(
        this IDistributedApplicationBuilder builder, AppHostSettings settings, IReadOnlyList<EmulatedNode> nodes, IResourceBuilder<ProjectResource> gateway)
    {
        if (settings.Agents == 0)
        {
            return;
        }

        var token = settings.WorkerToken ?? throw new InvalidOperationException("Agents without a worker token.");
        gateway.WithEnvironment(WorkerTokenVariable, token);
        var orchestrator = OrchestratorAddress(settings);
        for (var i = 0; i < nodes.Count; i++)
        {
            var name = nodes.Count == 1 ? Name : $"{Name}-{i}";
            builder.AddProject<Projects.DirectorsConsole_RenderAgent>(name, options => options.ExcludeLaunchProfile = true)
                .WithSuiteEnvironment(Name, i, settings)
                .WithEnvironment("Agent__Orchestrator", orchestrator.AbsoluteUri)
                .WithEnvironment("Agent__Token", token)
                .WithEnvironment("Agent__WorkerId", name)
                .WithEnvironment("Agent__ComfyUi", nodes[i].Address.AbsoluteUri)
                .WaitFor(nodes[i].Resource)
                .WaitFor(gateway);
        }
    }

    /// <summary>The Gateway as an agent on this machine reaches it (loopback when it listens on every address).</summary>
    private static Uri OrchestratorAddress(AppHostSettings settings) =>
        IPAddress.TryParse(settings.Host, out var address) && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
            ? new Uri($"http://{SuiteServiceExtensions.LoopbackHost}:{settings.Port}/")
            : settings.GatewayUrl;
}
