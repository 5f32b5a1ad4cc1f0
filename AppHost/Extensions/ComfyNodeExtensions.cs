using System.Globalization;
using DirectorsConsole.AppHost.Hosting;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.AppHost.Extensions;

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
    /// nodes run elsewhere, so they are only health-checked and passed on as <c>services__{name}__http__{i}</c>;
    /// nothing waits for them, since a render node may be offline while the suite runs. With none configured,
    /// <see cref="DefaultEmulatedNodes"/> ComfyUI emulators (tests/ComfyEmulator) run as processes of their own
    /// (<c>--replicas comfy-emulator=N</c> changes how many), so the suite does real work out of the box.
    /// </summary>
    public static IResourceBuilder<Resource> AddComfyNodes(this DistributedApplicationBuilder builder, string name)
    {
        if (builder.Settings.ComfyNodes.Count > 0)
        {
            return builder.AddResource(new ExternalResource(name, builder.Settings.ComfyNodes)).WithHttpHealthCheck(HealthPath);
        }

        builder.Logger.LogInformation("no ComfyUI nodes configured; starting {Count} emulated nodes ({Name})", DefaultEmulatedNodes, EmulatorName);
        return builder.AddProject(EmulatorName)
            // Like a node started with --enable-cors-header: the web app polls nodes from the browser.
            .WithAdditionalArgs(port => ["--port", port.ToString(CultureInfo.InvariantCulture), "--gpu-name", "Emulated RTX 4090", "--vram-gb", "24", "--enable-cors-header", "*"])
            .WithReplicas(DefaultEmulatedNodes)
            .WithHttpHealthCheck(HealthPath);
    }

    /// <summary>Tells the backend service about the nodes: emulated ones through <see cref="ComfyNodesVariable"/>;
    /// real ones it reads itself from the same settings the AppHost read (the variable or config.yaml).</summary>
    public static IResourceBuilder<T> WithComfyNodes<T>(this IResourceBuilder<T> builder, IResourceBuilder<Resource> nodes)
        where T : Resource
    {
        builder.WithReference(nodes);
        return nodes.Resource is ExecutableResource emulators
            ? builder.WithEnvironment(ComfyNodesVariable, () => string.Join(',', emulators.Endpoints.Select(e => e.Authority)))
            : builder;
    }
}
