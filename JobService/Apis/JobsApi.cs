using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

using DirectorsConsole.JobService.Webhooks;

namespace DirectorsConsole.JobService.Apis;

/// <summary>Single jobs (API docs 1–3, API doc 2 phase 2): submit, status, outputs, list and cancel. The per-job
/// WebSocket <c>/api/job/{id}/stream</c> is in <see cref="JobStreamsApi"/>.</summary>
public static class JobsApi
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 500;

    public static RouteGroupBuilder MapJobsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("Jobs");

        api.MapPost("/job", SubmitJobAsync)
            .WithName("SubmitJob")
            .WithSummary("Queue a workflow (workflow_id or workflow_json) with parameters; answers 202 at once, never waiting for the render");
        api.MapGet("/jobs", ListJobsAsync)
            .WithName("ListJobs")
            .WithSummary("List jobs, single and group children, newest first; filter by status, page with offset and limit");
        api.MapGet("/jobs/{id}", GetJobAsync)
            .WithName("GetJob")
            .WithSummary("Get a job's status, progress, times, backend, seed, outputs and error");
        api.MapGet("/job/{id}", GetJobAsync)
            .WithName("GetJobAlias")
            .WithSummary("Get a job's status (API doc 2's path; same as GET /api/jobs/{id})");
        api.MapGet("/job/{id}/outputs", GetJobOutputsAsync)
            .WithName("GetJobOutputs")
            .WithSummary("Get what a job produced, by kind (images, gifs, videos, audio, text); null until it completes");
        api.MapGet("/jobs/{id}/outputs", GetJobOutputsAsync)
            .WithName("GetJobOutputsAlias")
            .WithSummary("Get what a job produced (same as GET /api/job/{id}/outputs)");
        api.MapPost("/jobs/{id}/cancel", CancelJobAsync)
            .WithName("CancelJob")
            .WithSummary("Cancel a job that has not ended (removed from the queue or interrupted on its node); 409 when it has ended");
        api.MapDelete("/job/{id}", CancelJobAsync)
            .WithName("CancelJobAlias")
            .WithSummary("Cancel a job (API doc 2's path; same as POST /api/jobs/{id}/cancel)");
        return api;
    }

    public static async Task<Results<Accepted<JobAcceptedResponse>, BadRequest<ProblemDetails>, NotFound<ProblemDetails>, Conflict<ProblemDetails>, UnprocessableEntity<ValidationErrorResponse>>> SubmitJobAsync(
        JobRequest request, IJobEngine engine, PromptPreparation prompts, BackendDirectory backends, IOptions<JsonOptions> json,
        IOptions<WebhookOptions> webhooks, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrorList();
        var body = JobRequestChecks.Body(request, json.Value.SerializerOptions);
        JobRequestChecks.Workflow(request.WorkflowId, request.WorkflowJson, "workflow_id", body, errors);
        var timeoutSeconds = JobRequestChecks.TimeoutSeconds(request.TimeoutSeconds, errors);
        var capabilities = JobRequestChecks.Names(request.RequiredCapabilities, "required_capabilities", errors);
        JobRequestChecks.Names(request.SeedNodes, "seed_nodes", errors);
        JobRequestChecks.WebhookUrl(request.WebhookUrl, webhooks.Value.AllowLoopback, errors);
        if (request.Seed is < 0)
        {
            errors.Add("greater_than_equal", "Input should be greater than or equal to 0", JsonValue.Create(request.Seed), "body", "seed");
        }

        if (request.BackendAffinity is { } affinity && string.IsNullOrWhiteSpace(affinity))
        {
            errors.Add("string_too_short", "String should have at least 1 character", JsonValue.Create(affinity), "body", "backend_affinity");
        }

        if (errors.HasErrors)
        {
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        var prepared = await prompts.PrepareAsync(request.WorkflowId, request.WorkflowJson, request.Parameters ?? [], cancellationToken);
        if (prepared.WorkflowNotFound)
        {
            return JobRequestChecks.NotFound($"Workflow '{request.WorkflowId}' not found");
        }

        if (prepared.WorkflowUnusable is { } unusable)
        {
            return JobRequestChecks.Conflict(unusable);
        }

        if (prepared.Errors is { HasErrors: true } bindingErrors)
        {
            return TypedResults.UnprocessableEntity(bindingErrors.ToResponse());
        }

        var seedNodes = request.SeedNodes ?? prepared.SeedNodes;
        JobRequestChecks.SeedNodes(request.SeedNodes, prepared.Prompt, errors);
        if (errors.HasErrors)
        {
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        // Without an affinity or capabilities any backend will do: nothing to read.
        if ((request.BackendAffinity is not null || capabilities.Count > 0)
            && JobRequestChecks.SingleJobBackendProblem(await backends.ListAsync(cancellationToken), request.BackendAffinity, capabilities) is { } problem)
        {
            return JobRequestChecks.BadRequest(problem);
        }

        var job = await engine.SubmitJobAsync(new JobSubmission(prepared.Prompt)
        {
            WorkflowId = request.WorkflowId,
            Parameters = request.Parameters ?? [],
            IgnoredParameters = prepared.IgnoredParameters,
            Metadata = request.Metadata ?? [],
            BackendAffinity = request.BackendAffinity,
            RequiredCapabilities = capabilities,
            Priority = request.Priority ?? 0,
            TimeoutSeconds = timeoutSeconds,
            Seed = request.Seed ?? prepared.Seed,
            SeedNodes = seedNodes,
            WebhookUrl = request.WebhookUrl,
            RequiresApproval = request.RequiresApproval ?? false,
        }, cancellationToken);

        return TypedResults.Accepted(
            $"/api/jobs/{Uri.EscapeDataString(job.JobId)}",
            new JobAcceptedResponse(job.JobId, "accepted", "Job accepted for execution", job.SubmittedAt, job.IgnoredParameters));
    }

    public static async Task<Results<Ok<JobListResponse>, UnprocessableEntity<ValidationErrorResponse>>> ListJobsAsync(
        IJobEngine engine, string? status = null, int? offset = null, int? limit = null, CancellationToken cancellationToken = default)
    {
        var errors = new ValidationErrorList();
        if (status is not null && !JobStatuses.All.Contains(status, StringComparer.Ordinal))
        {
            errors.Add("enum", $"Input should be {string.Join(", ", JobStatuses.All.SkipLast(1).Select(s => $"'{s}'"))} or '{JobStatuses.All[^1]}'",
                JsonValue.Create(status), "query", "status");
        }

        var (skip, take) = JobRequestChecks.Paging(offset, limit, DefaultPageSize, MaxPageSize, errors);
        if (errors.HasErrors)
        {
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        var page = await engine.ListJobsAsync(status, skip, take, cancellationToken);
        return TypedResults.Ok(new JobListResponse(page.Jobs.Select(JobStatusResponse.From).ToArray(), page.Total, page.Offset, page.Limit));
    }

    public static async Task<Results<Ok<JobStatusResponse>, NotFound<ProblemDetails>>> GetJobAsync(
        string id, IJobEngine engine, CancellationToken cancellationToken) =>
        await engine.GetJobAsync(id, cancellationToken) is { } job
            ? TypedResults.Ok(JobStatusResponse.From(job))
            : JobNotFound(id);

    public static async Task<Results<Ok<JobOutputsResponse>, NotFound<ProblemDetails>>> GetJobOutputsAsync(
        string id, IJobEngine engine, CancellationToken cancellationToken) =>
        await engine.GetJobAsync(id, cancellationToken) is { } job
            ? TypedResults.Ok(new JobOutputsResponse(job.JobId, job.Status, job.Outputs))
            : JobNotFound(id);

    /// <summary>A job that had ended before the request is a 409 naming its status, so a client can tell "cancelled
    /// now" from "there was nothing to cancel"; a job that ends while the cancel is being made is a 409 too.</summary>
    public static async Task<Results<Ok<JobCancelResponse>, NotFound<ProblemDetails>, Conflict<ProblemDetails>>> CancelJobAsync(
        string id, IJobEngine engine, CancellationToken cancellationToken)
    {
        if (await engine.GetJobAsync(id, cancellationToken) is not { } before)
        {
            return JobNotFound(id);
        }

        if (JobStatuses.IsFinal(before.Status))
        {
            return AlreadyEnded(before);
        }

        if (await engine.CancelJobAsync(id, cancellationToken) is not { } after)
        {
            return JobNotFound(id);
        }

        return JobStatuses.IsFinal(after.Status) && after.Status != JobStatuses.Cancelled
            ? AlreadyEnded(after)
            : TypedResults.Ok(new JobCancelResponse(after.JobId, true, after.Status, $"Job {after.JobId} cancelled"));
    }

    private static Conflict<ProblemDetails> AlreadyEnded(JobRecord job) =>
        JobRequestChecks.Conflict($"Job {job.JobId} has already ended ({job.Status}); there is nothing to cancel");

    private static NotFound<ProblemDetails> JobNotFound(string id) => JobRequestChecks.NotFound($"Job {id} not found");
}
