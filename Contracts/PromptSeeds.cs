using System.Text.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.Contracts;

/// <summary>
/// Where a job's seed goes in an API-format prompt: every literal <c>seed</c> or <c>noise_seed</c> input
/// (KSampler, KSamplerAdvanced, RandomNoise, SamplerCustom, TestProgressImage…), or only those of the listed nodes.
/// JobService uses it to tell whether a seed has anywhere to go; BackendService writes the seed just before posting.
/// </summary>
public static class PromptSeeds
{
    private static readonly string[] SeedInputs = ["seed", "noise_seed"];

    /// <summary>A copy of <paramref name="prompt"/> with <paramref name="seed"/> in every literal
    /// <c>seed</c>/<c>noise_seed</c> input, or only in those of <paramref name="seedNodes"/> when given. Inputs
    /// linked to another node (<c>[node_id, output_index]</c>) are left alone: the seed then comes from that node.</summary>
    public static JsonObject Apply(JsonObject prompt, long seed, IReadOnlyList<string>? seedNodes)
    {
        var copy = (JsonObject)prompt.DeepClone();
        foreach (var (nodeId, input) in Targets(copy, seedNodes))
        {
            copy[nodeId]!["inputs"]![input] = seed;
        }

        return copy;
    }

    /// <summary>The literal seed inputs <see cref="Apply"/> writes to, as (node id, input name), in prompt order.</summary>
    public static IReadOnlyList<(string NodeId, string Input)> Targets(JsonObject prompt, IReadOnlyList<string>? seedNodes)
    {
        var only = seedNodes is { Count: > 0 } ? new HashSet<string>(seedNodes, StringComparer.Ordinal) : null;
        var targets = new List<(string, string)>();
        foreach (var (nodeId, node) in prompt)
        {
            if (only is not null && !only.Contains(nodeId) || node?["inputs"] is not JsonObject inputs)
            {
                continue;
            }

            foreach (var name in SeedInputs)
            {
                if (inputs[name] is JsonValue value && value.GetValueKind() == JsonValueKind.Number)
                {
                    targets.Add((nodeId, name));
                }
            }
        }

        return targets;
    }
}
