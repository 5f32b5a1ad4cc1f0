using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Apis;
using DirectorsConsole.JobService.Model;

namespace DirectorsConsole.JobService.Inbox;

/// <summary>
/// A job dropped into the inbox as a JSON file: the fields of <c>POST /api/job</c> (the original server):
/// <c>workflow_json</c> or <c>workflow_id</c>, <c>parameters</c>, <c>metadata</c>, <c>backend_affinity</c>,
/// <c>required_capabilities</c>, <c>priority</c>, <c>timeout_seconds</c>, <c>seed</c>, <c>seed_nodes</c>. Other keys
/// are ignored, so manifests written for the original still run.
/// </summary>
public sealed record InboxManifest(
    JsonObject? WorkflowJson,
    string? WorkflowId,
    JsonObject? Parameters,
    JsonObject? Metadata,
    string? BackendAffinity,
    IReadOnlyList<string>? RequiredCapabilities,
    int? Priority,
    int? TimeoutSeconds,
    long? Seed,
    IReadOnlyList<string>? SeedNodes)
{
    private static readonly JsonSerializerOptions ReadOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The job a manifest asks for, or every reason it cannot be submitted.</summary>
    public static async Task<(JobSubmission? Submission, IReadOnlyList<string> Problems)> PrepareAsync(
        string text, string fileName, PromptPreparation prompts, CancellationToken cancellationToken)
    {
        InboxManifest? manifest;
        try
        {
            manifest = JsonNode.Parse(text) is JsonObject
                ? JsonSerializer.Deserialize<InboxManifest>(text, ReadOptions)
                : null;
        }
        catch (JsonException ex)
        {
            return (null, [ex.Path is { Length: > 1 } path
                ? $"{path.TrimStart('$', '.')}: the value is malformed or of the wrong type ({ex.Message})"
                : $"the file is not valid JSON: {ex.Message}"]);
        }

        if (manifest is null)
        {
            return (null, ["the manifest must be a JSON object with workflow_json or workflow_id, and parameters, metadata, …"]);
        }

        var problems = new List<string>();
        if ((manifest.WorkflowJson is null) == (manifest.WorkflowId is null))
        {
            problems.Add("give either workflow_json (ComfyUI API format) or workflow_id (a workflow of the library), exactly one");
        }

        if (manifest.TimeoutSeconds is < JobRequestChecks.MinTimeoutSeconds or > JobRequestChecks.MaxTimeoutSeconds)
        {
            problems.Add($"timeout_seconds: must be {JobRequestChecks.MinTimeoutSeconds}–{JobRequestChecks.MaxTimeoutSeconds} (it is {manifest.TimeoutSeconds})");
        }

        if (manifest.Seed is < 0)
        {
            problems.Add($"seed: must be 0 or more (it is {manifest.Seed})");
        }

        if (problems.Count > 0)
        {
            return (null, problems);
        }

        var prepared = await prompts.PrepareAsync(manifest.WorkflowId, manifest.WorkflowJson, manifest.Parameters ?? [], cancellationToken);
        if (prepared.WorkflowNotFound)
        {
            return (null, [$"workflow_id: workflow '{manifest.WorkflowId}' is not in the library"]);
        }

        if (prepared.WorkflowUnusable is { } unusable)
        {
            return (null, [$"workflow_id: {unusable}"]);
        }

        if (prepared.Errors is { HasErrors: true } errors)
        {
            return (null, errors.Errors.Select(e => $"{string.Join('.', e.Loc.SkipWhile(part => Equals(part, "body")))}: {e.Msg}").ToArray());
        }

        var seedNodes = manifest.SeedNodes ?? prepared.SeedNodes;
        foreach (var node in manifest.SeedNodes ?? [])
        {
            if (!prepared.Prompt.ContainsKey(node))
            {
                problems.Add($"seed_nodes: node '{node}' is not in the workflow");
            }
        }

        if (problems.Count > 0)
        {
            return (null, problems);
        }

        var metadata = manifest.Metadata ?? [];
        metadata.TryAdd("inbox_file", fileName);
        return (new JobSubmission(prepared.Prompt)
        {
            WorkflowId = manifest.WorkflowId,
            Parameters = manifest.Parameters ?? [],
            IgnoredParameters = prepared.IgnoredParameters,
            Metadata = metadata,
            BackendAffinity = string.IsNullOrWhiteSpace(manifest.BackendAffinity) ? null : manifest.BackendAffinity,
            RequiredCapabilities = manifest.RequiredCapabilities?.Where(c => !string.IsNullOrWhiteSpace(c)).ToArray() ?? [],
            Priority = manifest.Priority ?? 0,
            TimeoutSeconds = manifest.TimeoutSeconds ?? JobRequestChecks.DefaultTimeoutSeconds,
            Seed = manifest.Seed ?? prepared.Seed,
            SeedNodes = seedNodes,
        }, []);
    }
}
