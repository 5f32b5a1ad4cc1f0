using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Contracts;

namespace DirectorsConsole.Comfy;

/// <summary>
/// Reads ComfyUI's JSON answers (reference A.1–A.3) into our records. Pure functions, so they are tested against
/// the bodies a real ComfyUI 0.3.64 sent (comfyui-transcripts).
/// </summary>
public static class ComfyResponses
{
    /// <summary>The answer of <c>POST /prompt</c> with status 200 or 400.</summary>
    public static ComfyPostResult ParsePostResponse(int status, JsonNode? body, string requestedPromptId)
    {
        if (status == 200)
        {
            var promptId = (string?)body?["prompt_id"] ?? requestedPromptId;
            var number = body?["number"] is JsonValue value && value.TryGetValue<double>(out var n) ? n : (double?)null;
            var dropped = body?["node_errors"] is JsonObject { Count: > 0 } nodeErrors
                ? "Some outputs failed validation and were dropped; the rest runs. " + FormatNodeErrors(nodeErrors)
                : null;
            return new ComfyPromptAccepted(promptId, number, dropped);
        }

        return FormatRejection(body);
    }

    /// <summary>A 400 from <c>POST /prompt</c> as one message naming each node, its class and the input, e.g.
    /// "Prompt outputs failed validation: Node 3 (KSampler): input 'steps' Value 0 smaller than min of 1".</summary>
    public static ComfyPromptRejected FormatRejection(JsonNode? body)
    {
        // Before v0.3.27 a missing prompt answered {"error": "no prompt", "node_errors": []}.
        if (body?["error"] is JsonValue legacy && legacy.TryGetValue<string>(out var legacyMessage))
        {
            return new ComfyPromptRejected(legacyMessage, "invalid_prompt");
        }

        var error = body?["error"] as JsonObject;
        var type = (string?)error?["type"] ?? "invalid_prompt";
        var message = Text(error?["message"]) ?? "ComfyUI refused the workflow";
        var details = Text(error?["details"]);
        var nodeErrors = body?["node_errors"] as JsonObject;
        if (nodeErrors is { Count: > 0 })
        {
            return new ComfyPromptRejected($"{message.TrimEnd('.')}: {FormatNodeErrors(nodeErrors)}", type);
        }

        return new ComfyPromptRejected(
            string.IsNullOrWhiteSpace(details) || details == message ? message : $"{message} ({details})", type);
    }

    /// <summary>Every error of every node, joined with "; ".</summary>
    public static string FormatNodeErrors(JsonObject nodeErrors)
    {
        var parts = new List<string>();
        foreach (var (nodeId, node) in nodeErrors)
        {
            var classType = (string?)node?["class_type"];
            var prefix = classType is null ? $"Node {nodeId}" : $"Node {nodeId} ({classType})";
            var errors = node?["errors"] as JsonArray ?? [];
            if (errors.Count == 0)
            {
                parts.Add($"{prefix}: failed validation");
            }

            foreach (var item in errors)
            {
                var input = Text(item?["extra_info"]?["input_name"]);
                var message = Text(item?["message"]) ?? Text(item?["type"]) ?? "failed validation";
                var details = Text(item?["details"]);
                var text = new StringBuilder(prefix).Append(": ");
                if (input is not null)
                {
                    text.Append("input '").Append(input).Append("' ");
                }

                text.Append(message);
                // The details repeat the input name for simple errors; keep them only when they add something.
                if (!string.IsNullOrWhiteSpace(details) && details != input)
                {
                    text.Append(" (").Append(details).Append(')');
                }

                parts.Add(text.ToString());
            }
        }

        return string.Join("; ", parts);
    }

    /// <summary>The ids of <c>GET /queue</c>: items are <c>[number, prompt_id, prompt, extra_data, outputs]</c>.</summary>
    public static ComfyQueueSnapshot ParseQueue(JsonNode? body) =>
        new(PromptIds(body?["queue_running"]), PromptIds(body?["queue_pending"]));

    /// <summary>The entry of <c>GET /history/{id}</c>, or null while the prompt is queued, running, unknown or lost
    /// (ComfyUI answers <c>{}</c> for all of those). <paramref name="backendBase"/> makes the outputs' <c>/view</c> URLs.</summary>
    public static ComfyHistoryEntry? ParseHistory(JsonNode? body, string promptId, Uri backendBase)
    {
        if (body?[promptId] is not JsonObject entry)
        {
            return null;
        }

        var outputsJson = entry["outputs"] as JsonObject;
        var outputs = ParseOutputs(outputsJson, backendBase);
        var status = entry["status"] as JsonObject;
        var messages = status?["messages"] as JsonArray ?? [];
        foreach (var message in messages)
        {
            var name = (string?)message?[0];
            var data = message?[1] as JsonObject;
            if (name == "execution_error")
            {
                return new ComfyHistoryEntry(promptId, ComfyOutcome.Failed, outputs)
                {
                    OutputsJson = outputsJson,
                    Error = Text(data?["exception_message"])?.TrimEnd() ?? "The prompt failed on the backend.",
                    ErrorType = Text(data?["exception_type"]) ?? "execution_error",
                    Node = NodeId(data?["node_id"]),
                    NodeClass = Text(data?["node_type"]),
                };
            }

            if (name == "execution_interrupted")
            {
                return new ComfyHistoryEntry(promptId, ComfyOutcome.Interrupted, outputs)
                {
                    OutputsJson = outputsJson,
                    Node = NodeId(data?["node_id"]),
                    NodeClass = Text(data?["node_type"]),
                };
            }
        }

        // History without "status" predates 2024-01; an entry there means the prompt ran.
        var statusText = (string?)status?["status_str"];
        if (statusText is null or "success")
        {
            return new ComfyHistoryEntry(promptId, ComfyOutcome.Succeeded, outputs) { OutputsJson = outputsJson };
        }

        return new ComfyHistoryEntry(promptId, ComfyOutcome.Failed, outputs)
        {
            OutputsJson = outputsJson,
            Error = $"ComfyUI recorded the prompt as '{statusText}' without an execution error.",
            ErrorType = "execution_error",
        };
    }

    /// <summary>Every output of every node: each list item with a filename is a file (images, gifs, videos, audio,
    /// any other ui key); each string is text. Flags such as <c>animated: [true]</c> are not outputs.</summary>
    public static IReadOnlyList<RenderOutput> ParseOutputs(JsonObject? outputs, Uri backendBase)
    {
        var result = new List<RenderOutput>();
        foreach (var (nodeId, ui) in outputs ?? [])
        {
            if (ui is not JsonObject kinds)
            {
                continue;
            }

            foreach (var (kind, value) in kinds)
            {
                IEnumerable<JsonNode?> items = value is JsonArray array ? array : [value];
                foreach (var item in items)
                {
                    if (item is JsonObject file && Text(file["filename"]) is { } filename)
                    {
                        var rawSubfolder = Text(file["subfolder"]) ?? "";
                        var type = Text(file["type"]) ?? "output";
                        result.Add(new RenderOutput(kind, nodeId)
                        {
                            Filename = filename,
                            Subfolder = NormaliseSubfolder(rawSubfolder),
                            Type = type,
                            Url = ViewUrl(backendBase, filename, rawSubfolder, type).AbsoluteUri,
                        });
                    }
                    else if (item is JsonValue text && text.TryGetValue<string>(out var s))
                    {
                        result.Add(new RenderOutput(kind, nodeId) { Text = s });
                    }
                }
            }
        }

        return result;
    }

    /// <summary>Windows backends report <c>\</c> in subfolders (os.path.normpath); ours are always <c>/</c>.</summary>
    public static string NormaliseSubfolder(string subfolder) => subfolder.Replace('\\', '/').Trim('/');

    /// <summary>The node's own <c>/view</c> address of a file, with every value URL-encoded.</summary>
    public static Uri ViewUrl(Uri backendBase, string filename, string subfolder, string type) =>
        new(backendBase, string.Create(CultureInfo.InvariantCulture,
            $"view?filename={Uri.EscapeDataString(filename)}&subfolder={Uri.EscapeDataString(subfolder)}&type={Uri.EscapeDataString(type)}"));

    private static IReadOnlyList<string> PromptIds(JsonNode? items) =>
        items is JsonArray array
            ? array.Select(item => item is JsonArray entry && entry.Count > 1 ? Text(entry[1]) : null).OfType<string>().ToArray()
            : [];

    private static string? NodeId(JsonNode? node) => node is null ? null : Text(node);

    private static string? Text(JsonNode? node) => node switch
    {
        JsonValue value when value.GetValueKind() == JsonValueKind.String => value.GetValue<string>(),
        JsonValue value when value.GetValueKind() is JsonValueKind.Number => value.ToJsonString(),
        _ => null,
    };
}
