using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Json;

namespace DirectorsConsole.ComfyEmulator.Execution;

/// <summary>A node's cached result: its outputs and the UI it reported (null for none).</summary>
public sealed record CachedNode(IReadOnlyList<object?> Outputs, JsonObject? Ui);

/// <summary>
/// ComfyUI's classic output cache (<c>CacheKeySetInputSignature</c>): a node's key is its class, its IS_CHANGED
/// value and its inputs, with links replaced by the linked node's key, so node ids do not matter. Starting a prompt
/// drops every entry that prompt does not use, as <c>clean_unused</c> does; so only an unchanged resubmission (or an
/// unchanged part of one) is served from the cache.
/// </summary>
public sealed class OutputCache
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, CachedNode> entries = [];

    /// <summary>Computes every node's key for this prompt and forgets entries it does not use.</summary>
    public IReadOnlyDictionary<string, string> SetPrompt(JsonObject prompt)
    {
        var signatures = new Dictionary<string, string>();
        foreach (var (nodeId, _) in prompt) Signature(prompt, nodeId, signatures, []);
        lock (gate)
        {
            var used = signatures.Values.ToHashSet();
            foreach (var unused in entries.Keys.Where(key => !used.Contains(key)).ToList()) entries.Remove(unused);
        }
        return signatures;
    }

    public CachedNode? Get(string signature)
    {
        lock (gate) return entries.GetValueOrDefault(signature);
    }

    public void Set(string signature, CachedNode node)
    {
        lock (gate) entries[signature] = node;
    }

    public void Clear()
    {
        lock (gate) entries.Clear();
    }

    private static string Signature(JsonObject prompt, string nodeId, Dictionary<string, string> signatures, HashSet<string> visiting)
    {
        if (signatures.TryGetValue(nodeId, out var known)) return known;
        if (prompt[nodeId] is not JsonObject node || !visiting.Add(nodeId)) return "<unresolved " + nodeId + ">";

        var signature = new StringBuilder()
            .Append(PythonJson.Serialize(node["class_type"]))
            .Append('|').Append(PythonJson.Serialize(node["is_changed"]));
        if (node["inputs"] is JsonObject inputs)
        {
            foreach (var (name, value) in inputs.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                signature.Append('|').Append(name).Append('=');
                if (Links.TryParse(value, out var from, out var slot)) signature.Append('(').Append(Signature(prompt, from, signatures, visiting)).Append(")[").Append(slot).Append(']');
                else signature.Append(PythonJson.Serialize(value));
            }
        }
        visiting.Remove(nodeId);
        return signatures[nodeId] = signature.ToString();
    }
}

/// <summary>ComfyUI's <c>is_link</c>: an input <c>[node_id, slot]</c> with a string id and a numeric slot.</summary>
public static class Links
{
    public static bool TryParse(JsonNode? value, out string from, out int slot)
    {
        from = "";
        slot = 0;
        if (value is not JsonArray { Count: 2 } link
            || PythonValues.Kind(link[0]) != System.Text.Json.JsonValueKind.String
            || PythonValues.Kind(link[1]) != System.Text.Json.JsonValueKind.Number)
        {
            return false;
        }
        from = link[0]!.GetValue<string>();
        slot = (int)PythonValues.AsDouble(link[1]!);
        return true;
    }
}
