using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Workflows;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace DirectorsConsole.JobService.Apis;

/// <summary>The workflow library: ComfyUI API-format workflows with their optional YAML sidecars, by id.</summary>
public static class WorkflowsApi
{
    public static RouteGroupBuilder MapWorkflowsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("Workflows");

        api.MapGet("/workflows", ListWorkflowsAsync)
            .WithName("ListWorkflows")
            .WithSummary("List the workflows of the library with their names, parameters and node counts");
        api.MapGet("/workflows/{id}", GetWorkflowAsync)
            .WithName("GetWorkflow")
            .WithSummary("Get one workflow in API format with its sidecar");
        api.MapPut("/workflows/{id}", PutWorkflowAsync)
            .WithName("PutWorkflow")
            .WithSummary("Add or replace a workflow: {workflow, sidecar?} or the raw API-format JSON")
            .Accepts<WorkflowUploadRequest>("application/json");
        api.MapDelete("/workflows/{id}", DeleteWorkflow)
            .WithName("DeleteWorkflow")
            .WithSummary("Remove a workflow and its sidecar");
        return api;
    }

    public static async Task<Ok<WorkflowListResponse>> ListWorkflowsAsync(WorkflowLibrary library, CancellationToken cancellationToken)
    {
        var entries = await library.ListAsync(cancellationToken);
        return TypedResults.Ok(new WorkflowListResponse(entries.Select(WorkflowSummary.From).ToArray(), entries.Count));
    }

    public static async Task<Results<Ok<WorkflowResponse>, NotFound<ProblemDetails>, Conflict<ProblemDetails>>> GetWorkflowAsync(
        string id, WorkflowLibrary library, CancellationToken cancellationToken)
    {
        try
        {
            return await library.FindAsync(id, cancellationToken) is { } definition
                ? TypedResults.Ok(WorkflowResponse.From(definition))
                : WorkflowNotFound(id);
        }
        catch (InvalidWorkflowFileException ex)
        {
            return TypedResults.Conflict(new ProblemDetails
            {
                Status = StatusCodes.Status409Conflict,
                Title = "Stored workflow is invalid",
                Detail = $"Workflow {id} cannot be used: {ex.Message}. Replace it with PUT /api/workflows/{id} or delete it.",
            });
        }
    }

    /// <summary>Validates the graph (and the sidecar against it) before anything is written, then writes both atomically.</summary>
    public static async Task<Results<Created<WorkflowResponse>, Ok<WorkflowResponse>, UnprocessableEntity<ValidationErrorResponse>>> PutWorkflowAsync(
        string id, [FromBody] JsonNode? body, WorkflowLibrary library, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrorList();
        if (WorkflowLibrary.IdProblem(id) is { } idProblem)
        {
            errors.Invalid(idProblem, JsonValue.Create(id), "path", "id");
        }

        if (body is not JsonObject root)
        {
            errors.Add("model_attributes_type", "Input should be an object: {workflow, sidecar?} or an API-format workflow", body, "body");
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        // {workflow: {...}} wraps the graph, unless "workflow" is itself a node (it has a class_type).
        var wrapped = root["workflow"] is JsonObject inner && !inner.ContainsKey("class_type");
        var prompt = wrapped ? (JsonObject)root["workflow"]! : root;
        object[] promptLocation = wrapped ? ["body", "workflow"] : ["body"];
        foreach (var problem in ApiWorkflow.Validate(prompt))
        {
            errors.Invalid(problem.Message, problem.Input, [.. promptLocation, .. problem.Location]);
        }

        WorkflowSidecar? sidecar = null;
        var sidecarGiven = wrapped && root.ContainsKey("sidecar");
        if (sidecarGiven && root["sidecar"] is { } sidecarJson)
        {
            try
            {
                sidecar = WorkflowSidecar.FromJson(sidecarJson);
                if (!errors.HasErrors)
                {
                    foreach (var problem in WorkflowLibrary.ValidateSidecar(sidecar, prompt))
                    {
                        errors.Invalid(problem.Message, problem.Input, ["body", "sidecar", .. problem.Location]);
                    }
                }
            }
            catch (WorkflowSidecarException ex)
            {
                errors.Invalid(ex.Message, sidecarJson, "body", "sidecar");
            }
        }

        if (errors.HasErrors)
        {
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        var outcome = await library.SaveAsync(id, prompt, sidecar, removeSidecar: sidecarGiven && sidecar is null, cancellationToken);
        var saved = WorkflowResponse.From(await library.FindAsync(id, cancellationToken)
            ?? throw new InvalidOperationException($"Workflow {id} vanished right after it was written."));
        return outcome == WorkflowSaveOutcome.Created
            ? TypedResults.Created($"/api/workflows/{id}", saved)
            : TypedResults.Ok(saved);
    }

    public static Results<Ok<WorkflowDeletedResponse>, NotFound<ProblemDetails>> DeleteWorkflow(string id, WorkflowLibrary library) =>
        library.Delete(id) ? TypedResults.Ok(new WorkflowDeletedResponse(true, id)) : WorkflowNotFound(id);

    private static NotFound<ProblemDetails> WorkflowNotFound(string id) =>
        TypedResults.NotFound(new ProblemDetails
        {
            Status = StatusCodes.Status404NotFound,
            Title = "Workflow not found",
            Detail = $"Workflow not found: {id}",
        });
}
