using System.Text.Json.Nodes;

namespace DirectorsConsole.ComfyEmulator.Realtime;

/// <summary>
/// A JSON WebSocket message of ComfyUI 0.3.64 (<c>{"type": T, "data": {...}}</c>). Each record writes its data with
/// ComfyUI's key order and Python's int/float distinction, which a typed serializer would lose.
/// </summary>
public interface IComfyMessage
{
    string Type { get; }

    JsonObject Data();
}

public sealed record StatusMessage(int QueueRemaining, string? Sid = null) : IComfyMessage
{
    public string Type => "status";

    public JsonObject Data()
    {
        var data = new JsonObject { ["status"] = new JsonObject { ["exec_info"] = new JsonObject { ["queue_remaining"] = QueueRemaining } } };
        if (Sid is not null) data["sid"] = Sid;
        return data;
    }
}

public sealed record ExecutionStartMessage(string PromptId, long Timestamp) : IComfyMessage
{
    public string Type => "execution_start";

    public JsonObject Data() => new() { ["prompt_id"] = PromptId, ["timestamp"] = Timestamp };
}

public sealed record ExecutionCachedMessage(IReadOnlyList<string> Nodes, string PromptId, long Timestamp) : IComfyMessage
{
    public string Type => "execution_cached";

    public JsonObject Data() => new() { ["nodes"] = Strings(Nodes), ["prompt_id"] = PromptId, ["timestamp"] = Timestamp };

    internal static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
}

/// <summary>A node starts running.</summary>
public sealed record ExecutingMessage(string Node, string DisplayNode, string PromptId) : IComfyMessage
{
    public string Type => "executing";

    public JsonObject Data() => new() { ["node"] = Node, ["display_node"] = DisplayNode, ["prompt_id"] = PromptId };
}

/// <summary>The run is over (<c>node: null</c>), sent after the history entry is written.</summary>
public sealed record ExecutionOverMessage(string PromptId) : IComfyMessage
{
    public string Type => "executing";

    public JsonObject Data() => new() { ["node"] = null, ["prompt_id"] = PromptId };
}

/// <summary>What a socket that re-connects with the running prompt's client id is told: only the node.</summary>
public sealed record ResumedExecutingMessage(string Node) : IComfyMessage
{
    public string Type => "executing";

    public JsonObject Data() => new() { ["node"] = Node };
}

public sealed record ProgressMessage(long Value, long Max, string PromptId, string Node) : IComfyMessage
{
    public string Type => "progress";

    public JsonObject Data() => new() { ["value"] = Value, ["max"] = Max, ["prompt_id"] = PromptId, ["node"] = Node };
}

/// <summary>Snapshot of every started node; <c>Nodes</c> is built by the progress registry.</summary>
public sealed record ProgressStateMessage(string PromptId, JsonObject Nodes) : IComfyMessage
{
    public string Type => "progress_state";

    public JsonObject Data() => new() { ["prompt_id"] = PromptId, ["nodes"] = Nodes.DeepClone() };
}

public sealed record ExecutedMessage(string Node, string DisplayNode, JsonObject? Output, string PromptId) : IComfyMessage
{
    public string Type => "executed";

    public JsonObject Data() => new() { ["node"] = Node, ["display_node"] = DisplayNode, ["output"] = Output?.DeepClone(), ["prompt_id"] = PromptId };
}

public sealed record ExecutionSuccessMessage(string PromptId, long Timestamp) : IComfyMessage
{
    public string Type => "execution_success";

    public JsonObject Data() => new() { ["prompt_id"] = PromptId, ["timestamp"] = Timestamp };
}

public sealed record ExecutionInterruptedMessage(string PromptId, string NodeId, string NodeType, IReadOnlyList<string> Executed, long Timestamp) : IComfyMessage
{
    public string Type => "execution_interrupted";

    public JsonObject Data() => new()
    {
        ["prompt_id"] = PromptId, ["node_id"] = NodeId, ["node_type"] = NodeType,
        ["executed"] = ExecutionCachedMessage.Strings(Executed), ["timestamp"] = Timestamp,
    };
}

public sealed record ExecutionErrorMessage(
    string PromptId, string NodeId, string NodeType, IReadOnlyList<string> Executed, string ExceptionMessage,
    string ExceptionType, IReadOnlyList<string> Traceback, JsonObject CurrentInputs, IReadOnlyList<string> CurrentOutputs, long Timestamp) : IComfyMessage
{
    public string Type => "execution_error";

    public JsonObject Data() => new()
    {
        ["prompt_id"] = PromptId, ["node_id"] = NodeId, ["node_type"] = NodeType,
        ["executed"] = ExecutionCachedMessage.Strings(Executed),
        ["exception_message"] = ExceptionMessage, ["exception_type"] = ExceptionType,
        ["traceback"] = ExecutionCachedMessage.Strings(Traceback),
        ["current_inputs"] = CurrentInputs.DeepClone(),
        ["current_outputs"] = ExecutionCachedMessage.Strings(CurrentOutputs),
        ["timestamp"] = Timestamp,
    };
}

/// <summary>The server's answer to a client's <c>feature_flags</c> (comfy_api/feature_flags.py).</summary>
public sealed record FeatureFlagsMessage : IComfyMessage
{
    public const long MaxUploadSize = 100L * 1024 * 1024;

    public string Type => "feature_flags";

    public JsonObject Data() => ServerFeatures();

    public static JsonObject ServerFeatures() => new() { ["supports_preview_metadata"] = true, ["max_upload_size"] = MaxUploadSize };
}

/// <summary>Binary frame event types (protocol.py <c>BinaryEventTypes</c>).</summary>
public static class BinaryEventType
{
    public const uint PreviewImage = 1;
    public const uint PreviewImageWithMetadata = 4;
    public const uint ImageFormatPng = 2;
}
