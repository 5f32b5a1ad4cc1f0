namespace DirectorsConsole.ComfyEmulator.Nodes;

/// <summary>The behaviour of every class in the catalog; start-up fails if a definition has no behaviour or the reverse.</summary>
public sealed class NodeRegistry
{
    private readonly Dictionary<string, IEmulatedNode> nodes;

    public NodeRegistry(IEnumerable<IEmulatedNode> behaviours, NodeCatalog catalog)
    {
        nodes = behaviours.ToDictionary(n => n.ClassType);
        var undefined = nodes.Keys.Where(c => !catalog.Contains(c)).ToList();
        var unimplemented = catalog.ClassTypes.Where(c => !nodes.ContainsKey(c)).ToList();
        if (undefined.Count > 0 || unimplemented.Count > 0)
        {
            throw new InvalidOperationException(
                $"Node catalog and behaviours disagree: no definition for [{string.Join(", ", undefined)}], no behaviour for [{string.Join(", ", unimplemented)}].");
        }
    }

    public IEmulatedNode this[string classType] => nodes[classType];

    public static IServiceCollection AddEmulatedNodes(IServiceCollection services)
    {
        foreach (var type in new[]
        {
            typeof(EmptyImageNode), typeof(SaveImageNode), typeof(PreviewImageNode), typeof(SaveImageWebsocketNode),
            typeof(CheckpointLoaderSimpleNode), typeof(UnetLoaderNode), typeof(LoraLoaderNode), typeof(VaeLoaderNode),
            typeof(ClipTextEncodeNode), typeof(EmptyLatentImageNode), typeof(KSamplerNode), typeof(KSamplerAdvancedNode),
            typeof(VaeDecodeNode), typeof(TestProgressImageNode), typeof(TestProgressInfoNode),
        })
        {
            services.AddSingleton(typeof(IEmulatedNode), type);
        }
        return services.AddSingleton<NodeRegistry>();
    }
}
