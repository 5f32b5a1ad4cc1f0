using System.Text.Json.Nodes;

namespace DirectorsConsole.ComfyEmulator.Nodes;

/// <summary>What a node returns: its outputs in RETURN_TYPES order and its UI dict (null or empty for none).</summary>
public sealed record NodeOutput(IReadOnlyList<object?> Values, JsonObject? Ui = null);

/// <summary>The behaviour of one node class; its inputs and outputs are declared in <see cref="NodeCatalog"/>.</summary>
public interface IEmulatedNode
{
    string ClassType { get; }

    /// <summary>ComfyUI's <c>IS_CHANGED</c>; null when the class does not define it (the usual case).</summary>
    JsonNode? IsChanged(TimeProvider time) => null;

    Task<NodeOutput> ExecuteAsync(NodeInvocation invocation);
}
