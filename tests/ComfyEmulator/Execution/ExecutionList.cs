using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Nodes;

namespace DirectorsConsole.ComfyEmulator.Execution;

/// <summary>
/// ComfyUI's <c>ExecutionList</c> (comfy_execution/graph.py): the nodes the requested outputs need, minus those
/// already cached, released in dependency order with the same "UX-friendly" choice among ready nodes (an output
/// node first, then a node that feeds one, then one two steps from one), so nodes run in ComfyUI's order.
/// </summary>
public sealed class ExecutionList(JsonObject prompt, NodeCatalog catalog, Func<string, bool> isCached)
{
    private readonly OrderedDictionary<string, bool> pending = [];
    private readonly Dictionary<string, int> blockCount = [];
    private readonly Dictionary<string, List<string>> blocking = [];

    public bool IsEmpty => pending.Count == 0;

    public void AddNode(string nodeId)
    {
        var stack = new List<string> { nodeId };
        var links = new List<(string From, string To)>();
        while (stack.Count > 0)
        {
            var current = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            if (pending.ContainsKey(current)) continue;
            pending[current] = true;
            blockCount[current] = 0;
            blocking[current] = [];
            foreach (var (_, value) in Inputs(current))
            {
                if (!Links.TryParse(value, out var from, out _)) continue;
                if (!isCached(from)) stack.Add(from);
                links.Add((from, current));
            }
        }
        foreach (var (from, to) in links) AddStrongLink(from, to);
    }

    /// <summary>The next node to run, or null when nothing is ready (a dependency cycle).</summary>
    public string? Stage()
    {
        var available = pending.Keys.Where(id => blockCount[id] == 0).ToList();
        return available.Count == 0 ? null : PickUxFriendly(available);
    }

    public void Complete(string nodeId)
    {
        pending.Remove(nodeId);
        foreach (var blocked in blocking[nodeId]) blockCount[blocked]--;
        blocking.Remove(nodeId);
    }

    private void AddStrongLink(string from, string to)
    {
        if (isCached(from)) return;
        AddNode(from);
        if (blocking[from].Contains(to)) return;
        blocking[from].Add(to);
        blockCount[to]++;
    }

    private string PickUxFriendly(List<string> available)
    {
        foreach (var id in available) if (IsOutput(id)) return id;
        foreach (var id in available) if (blocking[id].Any(IsOutput)) return id;
        foreach (var id in available) if (blocking[id].Any(b => blocking.TryGetValue(b, out var next) && next.Any(IsOutput))) return id;
        return available[0];
    }

    private bool IsOutput(string nodeId) => catalog.IsOutputNode(prompt[nodeId]!["class_type"]!.GetValue<string>());

    private JsonObject Inputs(string nodeId) => prompt[nodeId]?["inputs"] as JsonObject ?? [];
}
