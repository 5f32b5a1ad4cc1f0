using System.Text.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>Writes a job's seed into an API-format prompt before it is posted.</summary>
public static class SeedInjection
{
    private static readonly string[] SeedInputs = ["seed", "noise_seed"];

    /// <summary>A copy of <paramref name="prompt"/> with <paramref name="seed"/> in every literal
    /// <c>seed</c>/<c>noise_seed</c> input, or only in those of <paramref name="seedNodes"/> when given. Inputs
    /// linked to another node (<c>[node_id, output_index]</c>) are left alone: the seed then comes from that node.</summary>
    public static JsonObject Apply(JsonObject prompt, long seed, IReadOnlyList<string>? seedNodes)
    {
        var copy = (JsonObject)prompt.DeepClone();
        var only = seedNodes is { Count: > 0 } ? new HashSet<string>(seedNodes, StringComparer.Ordinal) : null;
        foreach (var (nodeId, node) in copy)
        {
            if (only is not null && !only.Contains(nodeId) || node?["inputs"] is not JsonObject inputs)
            {
                continue;
            }

            foreach (var name in SeedInputs)
            {
                if (inputs[name] is JsonValue value && value.GetValueKind() == JsonValueKind.Number)
                {
                    inputs[name] = seed;
                }
            }
        }

        return copy;
    }
}
