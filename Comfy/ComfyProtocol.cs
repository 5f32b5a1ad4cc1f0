using System.Text.Json.Nodes;
using DirectorsConsole.Contracts;

namespace DirectorsConsole.Comfy;

/// <summary>What is sent to <c>POST /prompt</c>: our own lowercase-UUID <paramref name="PromptId"/>, the
/// <paramref name="ClientId"/> of the socket already open on the backend, and the UI workflow for the PNG metadata.</summary>
public sealed record ComfyPromptRequest(string PromptId, string ClientId, JsonObject Prompt, JsonObject? Workflow, double? Number);

/// <summary>The answer of <c>POST /prompt</c>: accepted (200) or refused (400, a workflow ComfyUI will not run).</summary>
public abstract record ComfyPostResult;

/// <summary>ComfyUI queued the prompt. <paramref name="DroppedOutputs"/> describes the outputs it dropped when a
/// 200 still carried <c>node_errors</c> (the valid part of the graph runs anyway).</summary>
public sealed record ComfyPromptAccepted(string PromptId, double? Number, string? DroppedOutputs) : ComfyPostResult;

/// <summary>ComfyUI refused the workflow; <paramref name="Message"/> names the node, its class and the input.</summary>
public sealed record ComfyPromptRejected(string Message, string ComfyErrorType) : ComfyPostResult;

/// <summary>What <c>GET /queue</c> says: the ids running now and waiting.</summary>
public sealed record ComfyQueueSnapshot(IReadOnlyList<string> Running, IReadOnlyList<string> Pending)
{
    public bool Contains(string promptId) => Running.Contains(promptId) || Pending.Contains(promptId);
}

/// <summary>How a prompt ended according to <c>GET /history/{id}</c>.</summary>
public enum ComfyOutcome
{
    Succeeded,
    Failed,
    Interrupted,
}

/// <summary>One finished prompt in ComfyUI's history: how it ended, every output, and for a failure the node that
/// raised and ComfyUI's exception.</summary>
public sealed record ComfyHistoryEntry(string PromptId, ComfyOutcome Outcome, IReadOnlyList<RenderOutput> Outputs)
{
    /// <summary>The entry's <c>outputs</c> object as ComfyUI wrote it (node id → ui kinds), for passing on unchanged.</summary>
    public JsonObject? OutputsJson { get; init; }

    public string? Error { get; init; }

    public string? ErrorType { get; init; }

    public string? Node { get; init; }

    public string? NodeClass { get; init; }
}

/// <summary>The backend did not answer (refused connection, timeout, 5xx), so the request may be retried.</summary>
public sealed class ComfyUnreachableException(string message, Exception? inner = null) : Exception(message, inner);
