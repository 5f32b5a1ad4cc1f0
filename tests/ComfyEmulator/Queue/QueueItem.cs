using System.Text.Json.Nodes;

namespace DirectorsConsole.ComfyEmulator.Queue;

/// <summary>
/// One queued prompt: ComfyUI's tuple <c>[number, prompt_id, prompt, extra_data, outputs_to_execute]</c>.
/// <paramref name="Number"/> is kept as sent (an int from the server's counter, a float when the client gave one).
/// <paramref name="Sequence"/> breaks ties between equal numbers in order of arrival.
/// </summary>
public sealed record QueueItem(JsonNode Number, string PromptId, JsonObject Prompt, JsonObject ExtraData, IReadOnlyList<string> OutputsToExecute, long Sequence)
{
    public double Priority => Json.PythonValues.AsDouble(Number);

    /// <summary>The socket that receives this prompt's events; null broadcasts only what ComfyUI broadcasts.</summary>
    public string? ClientId => ExtraData["client_id"] switch
    {
        null => null,
        JsonValue value when value.TryGetValue<string>(out var id) => id,
        var other => other.ToJsonString(),
    };

    public JsonArray ToJson() => new(
        Number.DeepClone(), PromptId, Prompt.DeepClone(), ExtraData.DeepClone(),
        new JsonArray(OutputsToExecute.Select(id => (JsonNode?)JsonValue.Create(id)).ToArray()));

    public int CompareTo(QueueItem other)
    {
        var byNumber = Priority.CompareTo(other.Priority);
        return byNumber != 0 ? byNumber : Sequence.CompareTo(other.Sequence);
    }
}

/// <summary>A finished prompt as <c>GET /history</c> reports it.</summary>
public sealed record HistoryEntry(QueueItem Prompt, JsonObject Outputs, string StatusStr, bool Completed, JsonArray Messages, JsonObject Meta)
{
    public JsonObject ToJson() => new()
    {
        ["prompt"] = Prompt.ToJson(),
        ["outputs"] = Outputs.DeepClone(),
        ["status"] = new JsonObject { ["status_str"] = StatusStr, ["completed"] = Completed, ["messages"] = Messages.DeepClone() },
        ["meta"] = Meta.DeepClone(),
    };
}
