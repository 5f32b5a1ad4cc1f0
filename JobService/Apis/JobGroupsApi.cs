using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.JobService.Seeds;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

using DirectorsConsole.JobService.Webhooks;

namespace DirectorsConsole.JobService.Apis;

/// <summary>Job groups (API doc 4): one child per listed backend, each with its own seed. The WebSocket
/// <c>/ws/job-groups/{id}</c> is in <see cref="JobStreamsApi"/>.</summary>
public static class JobGroupsApi
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 500;

    public static RouteGroupBuilder MapJobGroupsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("Job Groups");

        api.MapPost("/job-groups", SubmitJobGroupAsync)
            .WithName("SubmitJobGroup")
            .WithSummary("Run one workflow on several backends at once, one child per backend id, each with its own seed");
        api.MapPost("/job-group", SubmitJobGroupAsync)
            .WithName("SubmitJobGroupAlias")
            .WithSummary("Submit a job group (API doc 4's path; same as POST /api/job-groups)");
        api.MapGet("/job-groups", ListJobGroupsAsync)
            .WithName("ListJobGroups")
            .WithSummary("List job groups with their children, newest first");
        api.MapGet("/job-groups/{id}", GetJobGroupAsync)
            .WithName("GetJobGroup")
            .WithSummary("Get a job group's status, counts and every child job");
        api.MapDelete("/job-groups/{id}", CancelJobGroupAsync)
            .WithName("CancelJobGroup")
            .WithSummary("Cancel every child that has not ended (queued ones removed, running ones interrupted on their node)");
        return api;
    }

    public static async Task<Results<Created<JobGroupResponse>, BadRequest<ProblemDetails>, NotFound<ProblemDetails>, Conflict<ProblemDetails>, UnprocessableEntity<ValidationErrorResponse>>> SubmitJobGroupAsync(
        JobGroupRequest request, IJobEngine engine, PromptPreparation prompts, BackendDirectory backends, IOptions<JsonOptions> json,
        IOptions<JobEngineOptions> engineOptions, IOptions<WebhookOptions> webhooks, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrorList();
        var body = JobRequestChecks.Body(request, json.Value.SerializerOptions);
        JobRequestChecks.Workflow(request.WorkflowId, request.WorkflowJson, "workflow_json", body, errors);
        var backendIds = BackendIds(request.BackendIds, engineOptions.Value.MaxGroupChildren, body, errors);
        var strategy = request.SeedStrategy ?? SeedStrategies.Random;
        if (!SeedStrategies.IsKnown(strategy))
        {
            errors.Add("enum", UnknownSeedStrategyException.ExpectedValues, JsonValue.Create(strategy), "body", "seed_strategy");
        }

        var baseSeed = BaseSeed(request.BaseSeed, errors);
        var timeoutSeconds = JobRequestChecks.TimeoutSeconds(request.TimeoutSeconds, errors);
        var capabilities = JobRequestChecks.Names(request.RequiredCapabilities, "required_capabilities", errors);
        JobRequestChecks.Names(request.SeedNodes, "seed_nodes", errors);
        JobRequestChecks.WebhookUrl(request.WebhookUrl, webhooks.Value.AllowLoopback, errors);
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

        JobRequestChecks.SeedNodes(request.SeedNodes, prepared.Prompt, errors);
        if (errors.HasErrors)
        {
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        if (JobRequestChecks.GroupBackendProblem(await backends.ListAsync(cancellationToken), backendIds, capabilities) is { } problem)
        {
            return JobRequestChecks.BadRequest(problem);
        }

        var view = await engine.SubmitGroupAsync(
            new JobGroupSubmission(prepared.Prompt, backendIds, SeedStrategies.Generate(strategy, backendIds.Count, baseSeed))
            {
                WorkflowId = request.WorkflowId,
                Parameters = request.Parameters ?? [],
                IgnoredParameters = prepared.IgnoredParameters,
                SeedStrategy = strategy,
                BaseSeed = baseSeed,
                SeedNodes = request.SeedNodes ?? prepared.SeedNodes,
                Metadata = request.Metadata ?? [],
                TimeoutSeconds = timeoutSeconds,
                WebhookUrl = request.WebhookUrl,
                RequiresApproval = request.RequiresApproval ?? false,
                RequiredCapabilities = capabilities,
            },
            cancellationToken);

        return TypedResults.Created($"/api/job-groups/{Uri.EscapeDataString(view.Group.JobGroupId)}", JobGroupResponse.From(view));
    }

    public static async Task<Results<Ok<JobGroupListResponse>, UnprocessableEntity<ValidationErrorResponse>>> ListJobGroupsAsync(
        IJobEngine engine, int? offset = null, int? limit = null, CancellationToken cancellationToken = default)
    {
        var errors = new ValidationErrorList();
        var (skip, take) = JobRequestChecks.Paging(offset, limit, DefaultPageSize, MaxPageSize, errors);
        if (errors.HasErrors)
        {
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        var groups = await engine.ListGroupsAsync(skip, take, cancellationToken);
        return TypedResults.Ok(new JobGroupListResponse(groups.Select(JobGroupStatusResponse.From).ToArray(), skip, take));
    }

    public static async Task<Results<Ok<JobGroupStatusResponse>, NotFound<ProblemDetails>>> GetJobGroupAsync(
        string id, IJobEngine engine, CancellationToken cancellationToken) =>
        await engine.GetGroupAsync(id, cancellationToken) is { } view
            ? TypedResults.Ok(JobGroupStatusResponse.From(view))
            : GroupNotFound(id);

    public static async Task<Results<Ok<JobGroupCancelResponse>, NotFound<ProblemDetails>>> CancelJobGroupAsync(
        string id, IJobEngine engine, CancellationToken cancellationToken) =>
        await engine.CancelGroupAsync(id, cancellationToken) is { } result
            ? TypedResults.Ok(JobGroupCancelResponse.From(result))
            : GroupNotFound(id);

    /// <summary>API doc 4's own wording for a group that does not exist.</summary>
    public static string GroupNotFoundDetail(string id) => $"Job group {id} not found";

    private static NotFound<ProblemDetails> GroupNotFound(string id) => JobRequestChecks.NotFound(GroupNotFoundDetail(id));

    /// <summary>At least one id (Pydantic's <c>min_length=1</c>) and at most <paramref name="maxChildren"/>
    /// (<see cref="JobEngineOptions.MaxGroupChildren"/>); duplicates give two children on one node, each with its own seed.</summary>
    private static IReadOnlyList<string> BackendIds(IReadOnlyList<string>? backendIds, int maxChildren, Func<JsonNode?> body, ValidationErrorList errors)
    {
        switch (backendIds)
        {
            case null:
                errors.Missing(body(), "body", "backend_ids");
                return [];
            case { Count: 0 }:
                errors.Add("too_short", "List should have at least 1 item after validation, not 0", new JsonArray(), "body", "backend_ids");
                return [];
            case var ids when ids.Count > maxChildren:
                errors.Add("too_long", $"List should have at most {maxChildren} items after validation, not {ids.Count}", null, "body", "backend_ids");
                return [];
            default:
                return JobRequestChecks.Names(backendIds, "backend_ids", errors);
        }
    }

    /// <summary>Any unsigned 64-bit integer; the request reads it as a decimal so that a negative, fractional or too
    /// large value gets a message that says which.</summary>
    private static ulong? BaseSeed(decimal? baseSeed, ValidationErrorList errors)
    {
        switch (baseSeed)
        {
            case null:
                return null;
            case var value when value != decimal.Truncate(value.Value):
                errors.Add("int_from_float", "Input should be a valid integer, got a number with a fractional part", JsonValue.Create(value), "body", "base_seed");
                return null;
            case < 0:
                errors.Add("greater_than_equal", "Input should be greater than or equal to 0", JsonValue.Create(baseSeed), "body", "base_seed");
                return null;
            case > ulong.MaxValue:
                errors.Add("less_than_equal", $"Input should be less than or equal to {ulong.MaxValue}", JsonValue.Create(baseSeed), "body", "base_seed");
                return null;
            default:
                return (ulong)baseSeed.Value;
        }
    }
}
