using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Realtime;

namespace DirectorsConsole.ComfyEmulator.Execution;

/// <summary>
/// comfy_execution/progress.py for one prompt: a node's value/max/state, sent as a <c>progress_state</c> snapshot of
/// every started node on each change. A started node reports 0.0 of 1.0 (floats) until its own progress bar
/// replaces them with ints; finishing sets value to max.
/// </summary>
public sealed class ProgressRegistry(string promptId, Action<IComfyMessage> send)
{
    private sealed class NodeProgress
    {
        public JsonNode Value { get; set; } = JsonValue.Create(0);
        public JsonNode Max { get; set; } = JsonValue.Create(1);
        public string State { get; set; } = "pending";
    }

    private readonly OrderedDictionary<string, NodeProgress> nodes = [];

    public void Start(string nodeId)
    {
        var entry = Ensure(nodeId);
        entry.State = "running";
        entry.Value = JsonValue.Create(0.0);
        entry.Max = JsonValue.Create(1.0);
        send(Snapshot());
    }

    public void Update(string nodeId, long value, long max)
    {
        var entry = Ensure(nodeId);
        entry.Value = JsonValue.Create(value);
        entry.Max = JsonValue.Create(max);
        send(Snapshot());
    }

    public void Finish(string nodeId)
    {
        var entry = Ensure(nodeId);
        entry.State = "finished";
        entry.Value = entry.Max.DeepClone();
        send(Snapshot());
    }

    private NodeProgress Ensure(string nodeId)
    {
        if (!nodes.TryGetValue(nodeId, out var entry)) nodes[nodeId] = entry = new NodeProgress();
        return entry;
    }

    /// <summary>ComfyUI leaves pending nodes out of the snapshot.</summary>
    private ProgressStateMessage Snapshot()
    {
        var snapshot = new JsonObject();
        foreach (var (nodeId, entry) in nodes)
        {
            if (entry.State == "pending") continue;
            snapshot[nodeId] = new JsonObject
            {
                ["value"] = entry.Value.DeepClone(), ["max"] = entry.Max.DeepClone(), ["state"] = entry.State,
                ["node_id"] = nodeId, ["prompt_id"] = promptId, ["display_node_id"] = nodeId,
                ["parent_node_id"] = null, ["real_node_id"] = nodeId,
            };
        }
        return new ProgressStateMessage(promptId, snapshot);
    }
}
