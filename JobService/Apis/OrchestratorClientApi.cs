using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.JobService.Workflows;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

using DirectorsConsole.JobService.Webhooks;

namespace DirectorsConsole.JobService.Apis;

/// <summary>
/// The worker orchestrator's client API over the suite's jobs: a job or group by id, its cancel and history, submits
/// through a workflow's declared endpoint, a workflow's graph, the render nodes and a dashboard. Reads are GETs,
/// changes are POSTs.
/// </summary>
public static class OrchestratorClientApi
{
    /// <summary>The one version served: <c>POST /api/{api_version}/{endpoint}</c> is <c>/api/v1/{endpoint}</c>; another
    /// version is not routed (404).</summary>
    public const string ApiVersion = "v1";

    /// <summary>The most ended jobs the dashboard reads for its window; a busier window is computed over its newest.</summary>
    public const int DashboardSampleLimit = 5000;

    public static RouteGroupBuilder MapOrchestratorClientApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/api/v1").WithTags("Orchestrator client");
        v1.MapGet("/jobs/{id}", GetJobAsync)
            .WithName("GetOrchestratorJob")
            .WithSummary("Get a job or job group with its full state (status, initial_data, assigned worker, result once ended)");
        v1.MapPost("/jobs/{id}/cancel", CancelJobAsync)
            .WithName("CancelOrchestratorJob")
            .WithSummary("Cancel a job or job group that has not ended; 409 when it has ended");
        v1.MapGet("/jobs/{id}/history", GetHistoryAsync)
            .WithName("GetOrchestratorJobHistory")
            .WithSummary("Every status change and event of a job or group (and of a group's children) with its time, oldest first");
        v1.MapGet("/blueprints/{name}/graph", GetGraphAsync)
            .WithName("GetBlueprintGraph")
            .WithSummary("A workflow's node graph as Graphviz DOT, nodes labelled with class and bound parameters")
            .Produces<string>(StatusCodes.Status200OK, WorkflowGraph.ContentType);
        v1.MapGet("/workers", ListWorkersAsync)
            .WithName("ListOrchestratorWorkers")
            .WithSummary("Every render node with its status and load");
        v1.MapGet("/dashboard", GetDashboardAsync)
            .WithName("GetOrchestratorDashboard")
            .WithSummary("Jobs by status, queue depth, jobs per minute, backend utilisation and render time percentiles");

        // Last: literal routes above win over this catch-all, so jobs/{id}/cancel is never taken for an endpoint.
        v1.MapPost("/{**endpoint}", SubmitThroughEndpointAsync)
            .WithName("SubmitThroughEndpoint")
            .WithSummary("Submit the workflow whose sidecar declares this endpoint: {initial_data: {parameters}, webhook_url?} → 202 {status, job_id}")
            .Accepts<JsonObject>("application/json");
        return v1;
    }

    public static async Task<Results<Ok<OrchestratorJob>, NotFound<ProblemDetails>>> GetJobAsync(
        string id, IJobEngine engine, CancellationToken cancellationToken)
    {
        if (await engine.GetJobAsync(id, cancellationToken) is { } job)
        {
            return TypedResults.Ok(OrchestratorJob.From(job));
        }

        return await engine.GetGroupAsync(id, cancellationToken) is { } group
            ? TypedResults.Ok(OrchestratorJob.From(group))
            : NotFound(id);
    }

    /// <summary>A job or group that had ended is a 409 naming its status (the original answered 404, which a client
    /// cannot tell from a wrong id); one that ends while the cancel is being made is a 409 too.</summary>
    public static async Task<Results<Ok<OrchestratorCancelResponse>, NotFound<ProblemDetails>, Conflict<ProblemDetails>>> CancelJobAsync(
        string id, IJobEngine engine, CancellationToken cancellationToken)
    {
        if (await engine.GetJobAsync(id, cancellationToken) is { } job)
        {
            if (JobStatuses.IsFinal(job.Status))
            {
                return AlreadyEnded(id, job.Status);
            }

            var after = await engine.CancelJobAsync(id, cancellationToken);
            return after is null ? NotFound(id)
                : after.Status is JobStatuses.Cancelled || !JobStatuses.IsFinal(after.Status) ? Sent()
                : AlreadyEnded(id, after.Status);
        }

        if (await engine.GetGroupAsync(id, cancellationToken) is not { } group)
        {
            return NotFound(id);
        }

        if (group.Group.Status is not (JobGroupStatuses.Pending or JobGroupStatuses.Running or JobGroupStatuses.AwaitingApproval))
        {
            return AlreadyEnded(id, group.Group.Status);
        }

        return await engine.CancelGroupAsync(id, cancellationToken) is null ? NotFound(id) : Sent();
    }

    public static async Task<Results<Ok<JsonArray>, NotFound<ProblemDetails>>> GetHistoryAsync(
        string id, IJobEngine engine, JobStore store, CancellationToken cancellationToken)
    {
        var entries = new List<JobHistoryEntry>(await store.GetHistoryAsync(id, cancellationToken));
        if (await engine.GetGroupAsync(id, cancellationToken) is { } group)
        {
            foreach (var childId in group.Group.ChildJobIds)
            {
                entries.AddRange(await store.GetHistoryAsync(childId, cancellationToken));
            }
        }
        else if (entries.Count == 0 && await engine.GetJobAsync(id, cancellationToken) is null)
        {
            return NotFound(id);
        }

        // A stable sort: entries of one job keep their order when two share a millisecond.
        return TypedResults.Ok(new JsonArray(entries.OrderBy(e => e.At).Select(e => (JsonNode)ToJson(e)).ToArray()));
    }

    public static async Task<Results<ContentHttpResult, NotFound<ProblemDetails>, Conflict<ProblemDetails>>> GetGraphAsync(
        string name, WorkflowLibrary library, CancellationToken cancellationToken)
    {
        try
        {
            return WorkflowLibrary.IsValidId(name) && await library.FindAsync(name, cancellationToken) is { } workflow
                ? TypedResults.Content(WorkflowGraph.ToDot(workflow), WorkflowGraph.ContentType)
                : JobRequestChecks.NotFound($"Blueprint (workflow) '{name}' not found");
        }
        catch (InvalidWorkflowFileException ex)
        {
            return JobRequestChecks.Conflict($"Workflow '{name}' cannot be read: {ex.Message}");
        }
    }

    public static async Task<Ok<OrchestratorWorker[]>> ListWorkersAsync(BackendDirectory backends, JobStore store, CancellationToken cancellationToken)
    {
        var workers = new List<OrchestratorWorker>();
        foreach (var backend in await backends.ListAsync(cancellationToken))
        {
            workers.Add(OrchestratorWorker.From(backend, await store.CountSlotsAsync(backend.Definition.Id, cancellationToken)));
        }

        return TypedResults.Ok(workers.ToArray());
    }

    public static async Task<Ok<OrchestratorDashboard>> GetDashboardAsync(
        JobStore store, BackendDirectory backends, IOptions<JobEngineOptions> options, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var window = options.Value.DashboardWindow;
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var status in JobStatuses.All)
        {
            counts[status] = await store.CountJobsAsync(status, cancellationToken);
        }

        var ended = await store.GetJobsAsync(await store.EndedSinceAsync(now - window, DashboardSampleLimit, cancellationToken), cancellationToken);
        var endedByStatus = ended.GroupBy(j => j.Record.Status).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var renderSeconds = ended
            .Select(j => j.Record)
            .Where(r => r.Status == JobStatuses.Completed && r.StartedAt is not null && r.CompletedAt is not null)
            .Select(r => (r.CompletedAt!.Value - r.StartedAt!.Value).TotalSeconds);

        var registry = await backends.ListAsync(cancellationToken);
        var utilization = new List<BackendUtilization>(registry.Count);
        foreach (var backend in registry)
        {
            var worker = OrchestratorWorker.From(backend, await store.CountSlotsAsync(backend.Definition.Id, cancellationToken));
            utilization.Add(new BackendUtilization(worker.WorkerId, worker.Online, worker.ActiveJobs, worker.MaxConcurrentJobs, worker.Load));
        }

        return TypedResults.Ok(new OrchestratorDashboard(
            counts,
            counts[JobStatuses.Queued],
            (int)window.TotalSeconds,
            endedByStatus,
            Math.Round(endedByStatus.GetValueOrDefault(JobStatuses.Completed) / window.TotalMinutes, 3),
            RenderTimePercentiles.From(renderSeconds),
            registry.Count,
            registry.Count(b => b.Online),
            utilization,
            now));
    }

    public static async Task<Results<Accepted<OrchestratorAccepted>, BadRequest<ProblemDetails>, NotFound<ProblemDetails>, Conflict<ProblemDetails>, UnprocessableEntity<ValidationErrorResponse>>> SubmitThroughEndpointAsync(
        string endpoint, [FromBody] JsonNode? body,
        WorkflowLibrary library, PromptPreparation prompts, IJobEngine engine, BackendDirectory backends, IOptions<WebhookOptions> webhooks,
        CancellationToken cancellationToken)
    {
        var path = endpoint.Trim('/');
        var workflows = await library.FindByEndpointAsync(path, cancellationToken);
        if (workflows.Count == 0)
        {
            return JobRequestChecks.NotFound($"No workflow declares the endpoint '{path}' (set endpoint: {path} in a workflow's sidecar)");
        }

        if (workflows.Count > 1)
        {
            return JobRequestChecks.Conflict($"The endpoint '{path}' is declared by several workflows ({string.Join(", ", workflows.Select(w => w.Id))}); keep it on one");
        }

        var errors = new ValidationErrorList();
        var (initialData, webhookUrl) = ReadSubmitBody(body, webhooks.Value.AllowLoopback, errors);
        if (errors.HasErrors)
        {
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        var workflow = workflows[0];
        var prepared = await prompts.PrepareAsync(workflow.Id, null, initialData, cancellationToken, parametersField: "initial_data");
        if (prepared.WorkflowNotFound)
        {
            return JobRequestChecks.NotFound($"Workflow '{workflow.Id}' of the endpoint '{path}' was removed");
        }

        if (prepared.WorkflowUnusable is { } unusable)
        {
            return JobRequestChecks.Conflict(unusable);
        }

        if (prepared.Errors is { HasErrors: true } bindingErrors)
        {
            return TypedResults.UnprocessableEntity(bindingErrors.ToResponse());
        }

        if (JobRequestChecks.SingleJobBackendProblem(await backends.ListAsync(cancellationToken), null, []) is { } problem)
        {
            return JobRequestChecks.BadRequest(problem);
        }

        var job = await engine.SubmitJobAsync(new JobSubmission(prepared.Prompt)
        {
            WorkflowId = workflow.Id,
            Parameters = initialData,
            IgnoredParameters = prepared.IgnoredParameters,
            WebhookUrl = webhookUrl,
            Seed = prepared.Seed,
            SeedNodes = prepared.SeedNodes,
        }, cancellationToken);
        return TypedResults.Accepted($"/api/{ApiVersion}/jobs/{Uri.EscapeDataString(job.JobId)}", new OrchestratorAccepted("accepted", job.JobId));
    }

    /// <summary>The submit body: both fields optional; <c>initial_data</c> an object, <c>webhook_url</c> an absolute
    /// http or https URL. Other fields of the original (deadlines, security) have no meaning here and are refused.</summary>
    public static (JsonObject InitialData, string? WebhookUrl) ReadSubmitBody(JsonNode? body, bool allowLoopback, ValidationErrorList errors)
    {
        if (body is null)
        {
            return ([], null);
        }

        if (body is not JsonObject root)
        {
            errors.Add("model_attributes_type", "Input should be a valid dictionary or object", body, "body");
            return ([], null);
        }

        foreach (var (name, value) in root)
        {
            if (name is not ("initial_data" or "webhook_url"))
            {
                errors.Add("extra_forbidden", "Extra inputs are not permitted", value?.DeepClone(), "body", name);
            }
        }

        JsonObject initialData = [];
        switch (root["initial_data"])
        {
            case null:
                break;
            case JsonObject data:
                initialData = data.DeepClone().AsObject();
                break;
            case var other:
                errors.Add("dict_type", "Input should be a valid dictionary", other.DeepClone(), "body", "initial_data");
                break;
        }

        string? webhookUrl = null;
        switch (root["webhook_url"])
        {
            case null:
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                webhookUrl = value.GetValue<string>();
                JobRequestChecks.WebhookUrl(webhookUrl, allowLoopback, errors);
                break;
            case var other:
                errors.Add("string_type", "Input should be a valid string", other.DeepClone(), "body", "webhook_url");
                break;
        }

        return (initialData, webhookUrl);
    }

    private static JsonObject ToJson(JobHistoryEntry entry)
    {
        var json = new JsonObject { ["at"] = JobEvents.Iso(entry.At), ["event"] = entry.Event };
        foreach (var (name, value) in entry.Details)
        {
            json[name] = value?.DeepClone();
        }

        return json;
    }

    private static Ok<OrchestratorCancelResponse> Sent() => TypedResults.Ok(new OrchestratorCancelResponse("cancellation_request_sent"));

    private static Conflict<ProblemDetails> AlreadyEnded(string id, string status) =>
        JobRequestChecks.Conflict($"Job {id} has already ended ({status}); there is nothing to cancel");

    private static NotFound<ProblemDetails> NotFound(string id) => JobRequestChecks.NotFound($"Job {id} not found");
}
