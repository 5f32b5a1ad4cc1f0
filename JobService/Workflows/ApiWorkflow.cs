using System.Text.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.JobService.Workflows;

/// <summary>
/// ComfyUI's API-format prompt: an object of node id → <c>{class_type, inputs, _meta?}</c>, where an input is a literal
/// or a link <c>[node_id, output_index]</c> (ComfyUI reads every list as a link).
/// </summary>
public static class ApiWorkflow
{
    /// <summary>One thing wrong with a graph; <see cref="Location"/> is relative to the graph (node id, then field).</summary>
    public sealed record Problem(IReadOnlyList<object> Location, string Message, JsonNode? Input);

    /// <summary>Every problem of <paramref name="graph"/> as an API-format workflow; empty when it is one.</summary>
    public static IReadOnlyList<Problem> Validate(JsonNode? graph)
    {
        if (graph is not JsonObject nodes)
        {
            return [new Problem([], "the workflow must be a JSON object of node id to {class_type, inputs}", graph)];
        }

        if (nodes.ContainsKey("nodes") && nodes.ContainsKey("links"))
        {
            return [new Problem([], "this is a UI-format workflow (nodes and links); export it from ComfyUI with 'Export (API)'", null)];
        }

        if (nodes.Count == 0)
        {
            return [new Problem([], "the workflow has no nodes", graph)];
        }

        var problems = new List<Problem>();
        foreach (var (id, node) in nodes)
        {
            if (node is not JsonObject body)
            {
                problems.Add(new Problem([id], "a node must be an object with class_type and inputs", node));
                continue;
            }

            if (body["class_type"] is not JsonValue classType || classType.GetValueKind() != JsonValueKind.String || classType.GetValue<string>().Length == 0)
            {
                problems.Add(new Problem([id, "class_type"], "class_type must be the node's class name", body["class_type"]));
            }

            if (body["inputs"] is not JsonObject inputs)
            {
                problems.Add(new Problem([id, "inputs"], "inputs must be an object of input name to value or link", body["inputs"]));
                continue;
            }

            foreach (var (name, value) in inputs)
            {
                if (value is not JsonArray link)
                {
                    continue;
                }

                if (!TryReadLink(link, out var source, out _))
                {
                    problems.Add(new Problem([id, "inputs", name], "a list input is a link and must be [node_id, output_index]", link));
                }
                else if (!nodes.ContainsKey(source))
                {
                    problems.Add(new Problem([id, "inputs", name], $"links to node {source}, which is not in the workflow", link));
                }
            }
        }

        return problems;
    }

    /// <summary>True for a link <c>[node_id, output_index]</c>; the node id may be written as a number.</summary>
    public static bool TryReadLink(JsonNode? input, out string sourceNodeId, out int outputIndex)
    {
        sourceNodeId = "";
        outputIndex = 0;
        if (input is not JsonArray { Count: 2 } link || link[0] is not JsonValue id || link[1] is not JsonValue index ||
            index.GetValueKind() != JsonValueKind.Number || !int.TryParse(index.ToJsonString(), out outputIndex) || outputIndex < 0)
        {
            return false;
        }

        sourceNodeId = id.GetValueKind() switch
        {
            JsonValueKind.String => id.GetValue<string>(),
            JsonValueKind.Number => id.ToJsonString(),
            _ => "",
        };
        return sourceNodeId.Length > 0;
    }

    public static bool IsLink(JsonNode? input) => input is JsonArray;

    public static string? ClassType(JsonNode? node) =>
        node?["class_type"] is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;
}
