using System.Globalization;
using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Extensions;

/// <summary>An emulated render node the AppHost started: its resource and its address.</summary>
public sealed record EmulatedNode(IResourceBuilder<ProjectResource> Resource, Uri Address);

public static class ComfyNodeExtensions
{
    /// <summary>ComfyUI's cheapest read-only route; it answers 200 once the node is up.</summary>
    public const string HealthPath = "/system_stats";

    public const string EmulatorName = "comfy-emulator";

    /// <summary>Emulated render nodes started when no real one is configured.</summary>
    public const int DefaultEmulatedNodes = 2;

    /// <summary>The variable BackendService reads its render nodes from (besides config.yaml's <c>backends</c>).</summary>
    public const string ComfyNodesVariable = "ORCHESTRATOR_COMFY_NODES";

    /// <summary>
    /// The ComfyUI render nodes: <c>ORCHESTRATOR_COMFY_NODES</c>, else config.yaml's enabled <c>backends</c>. Real
    /// nodes run elsewhere, so they are only shown with their health (external services); nothing waits for them,
    /// since a render node may be offline while the suite runs. With none configured, <see cref="DefaultEmulatedNodes"/>
    /// ComfyUI emulators (tests/ComfyEmulator) run as project resources of their own (<c>--replicas comfy-emulator=N</c>
    /// or config.yaml's replicas change how many), so the suite does real work out of the box; with <c>--agents N</c>,
    /// N of them, each behind a render agent (<see cref="RenderAgentExtensions"/>).
    /// </summary>
    /// <returns>The emulated nodes (none when real nodes are configured: BackendService reads those itself, from the
    /// same variable or config.yaml, with their ids and names).</returns>
    public static IReadOnlyList<EmulatedNode> AddComfyNodes(this IDistributedApplicationBuilder builder, AppHostSettings settings, LoopbackPorts ports)
    {
        if (settings.ComfyNodes.Count > 0)
        {
            for (var i = 0; i < settings.ComfyNodes.Count; i++)
            {
                builder.AddExternalService($"comfy-node-{i}", settings.ComfyNodes[i]).WithHttpHealthCheck(HealthPath);
            }

            return [];
        }

        var count = settings.Agents > 0 ? settings.Agents : settings.ReplicasOf(EmulatorName, DefaultEmulatedNodes);
        var nodes = new List<EmulatedNode>();
        for (var i = 0; i < count; i++)
        {
            var port = ports.Allocate();
            var emulator = builder.AddSuiteProject<Projects.ComfyEmulator>(count == 1 ? EmulatorName : $"{EmulatorName}-{i}", EmulatorName, i, settings,
                    SuiteServiceExtensions.LoopbackHost, port)
                .WithArgs("--port", port.ToString(CultureInfo.InvariantCulture), "--gpu-name", "Emulated RTX 4090", "--vram-gb", "24",
                    // Like a node started with --enable-cors-header: the web app polls nodes from the browser.
                    "--enable-cors-header", "*")
                .WithHttpHealthCheck(HealthPath);
            nodes.Add(new EmulatedNode(emulator, new Uri($"http://{SuiteServiceExtensions.LoopbackHost}:{port.ToString(CultureInfo.InvariantCulture)}")));
        }

        return nodes;
    }

    /// <summary>Tells the backend service where the emulated render nodes are, unless they run behind agents (then
    /// the suite never learns their addresses: the agents pull the work).</summary>
    public static SuiteService WithComfyNodes(this SuiteService service, IReadOnlyList<EmulatedNode> emulatedNodes, AppHostSettings settings)
    {
        if (emulatedNodes.Count == 0 || settings.Agents > 0)
        {
            return service;
        }

        var value = string.Join(',', emulatedNodes.Select(n => n.Address.Authority));
        foreach (var replica in service.Replicas)
        {
            replica.WithEnvironment(ComfyNodesVariable, value);
        }

        return service;
    }
}
