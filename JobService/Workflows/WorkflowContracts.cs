using System.Text.Json.Nodes;

namespace DirectorsConsole.JobService.Workflows;

/// <summary>One workflow in <c>GET /api/workflows</c>; a file that cannot be read has <see cref="Error"/> set.</summary>
public sealed record WorkflowSummary(
    string Id,
    string Name,
    string? Description,
    IReadOnlyList<string> Parameters,
    int NodeCount,
    bool HasSidecar,
    DateTimeOffset? ModifiedAt,
    string? Error)
{
    public static WorkflowSummary From(WorkflowEntry entry) => entry.Definition is { } definition
        ? new WorkflowSummary(definition.Id, definition.Name, definition.Description, definition.ParameterNames,
            definition.Prompt.Count, definition.Sidecar is not null, definition.ModifiedAt, null)
        : new WorkflowSummary(entry.Id, entry.Id, null, [], 0, false, null, entry.Error);
}

public sealed record WorkflowListResponse(IReadOnlyList<WorkflowSummary> Workflows, int Total);

/// <summary><c>GET /api/workflows/{id}</c>: the API-format workflow and its sidecar (parameters in the long form).</summary>
public sealed record WorkflowResponse(
    string Id,
    string Name,
    string? Description,
    IReadOnlyList<string> Parameters,
    int NodeCount,
    JsonObject Workflow,
    JsonObject? Sidecar,
    DateTimeOffset ModifiedAt)
{
    public static WorkflowResponse From(WorkflowDefinition definition) => new(
        definition.Id, definition.Name, definition.Description, definition.ParameterNames, definition.Prompt.Count,
        definition.Prompt, definition.Sidecar?.ToJson(), definition.ModifiedAt);
}

/// <summary>The wrapped body of <c>PUT /api/workflows/{id}</c>; the raw API-format JSON is accepted as well. A
/// <c>sidecar</c> left out keeps the stored one; <c>"sidecar": null</c> removes it.</summary>
public sealed record WorkflowUploadRequest(JsonObject Workflow, JsonObject? Sidecar);

public sealed record WorkflowDeletedResponse(bool Deleted, string Id);
