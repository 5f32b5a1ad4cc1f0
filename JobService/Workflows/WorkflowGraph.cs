using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.JobService.Workflows;

/// <summary>
/// A workflow's node graph in Graphviz DOT: one box per node labelled with its id, class and the sidecar parameters
/// bound to its inputs, and one edge per link (<c>["nodeId", outputIndex]</c> input) from the node that produces it,
/// labelled with the input it feeds.
/// </summary>
public static class WorkflowGraph
{
    public const string ContentType = "text/vnd.graphviz";

    public static string ToDot(WorkflowDefinition workflow)
    {
        var boundInputs = new Dictionary<NodeInputRef, string>();
        foreach (var (name, parameter) in workflow.Sidecar?.Parameters ?? new Dictionary<string, WorkflowParameter>())
        {
            foreach (var target in parameter.Targets)
            {
                boundInputs[target] = name;
            }
        }

        var dot = new StringBuilder();
        dot.Append("digraph ").Append(Quote(workflow.Id)).Append(" {\n");
        dot.Append("  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
        dot.Append("  label=").Append(Quote(workflow.Name)).Append(";\n");
        var edges = new StringBuilder();
        foreach (var (nodeId, node) in workflow.Prompt)
        {
            var lines = new List<string> { $"{nodeId}: {(string?)node?["class_type"] ?? "?"}" };
            foreach (var (input, value) in node?["inputs"] as JsonObject ?? [])
            {
                if (ApiWorkflow.IsLink(value))
                {
                    var link = value!.AsArray();
                    edges.Append("  ").Append(Quote(Scalar(link[0]))).Append(" -> ").Append(Quote(nodeId))
                        .Append(" [label=").Append(Quote($"{input} ← {Scalar(link[1])}")).Append("];\n");
                }
                else if (boundInputs.TryGetValue(new NodeInputRef(nodeId, input), out var parameter))
                {
                    lines.Add($"{input} = {{{parameter}}} ({Scalar(value)})");
                }
            }

            dot.Append("  ").Append(Quote(nodeId)).Append(" [label=").Append(Quote(string.Join('\n', lines))).Append("];\n");
        }

        dot.Append(edges).Append("}\n");
        return dot.ToString();
    }

    /// <summary>A DOT quoted string: backslashes and quotes escaped, line breaks as DOT's <c>\n</c> (a centred line).</summary>
    public static string Quote(string text)
    {
        var quoted = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            quoted.Append(c switch
            {
                '\\' => "\\\\",
                '"' => "\\\"",
                '\n' => "\\n",
                '\r' => "",
                _ when char.IsControl(c) => " ",
                _ => c.ToString(),
            });
        }

        return quoted.Append('"').ToString();
    }

    private static string Scalar(JsonNode? value) => value switch
    {
        null => "null",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => value.ToJsonString(),
    };
}
