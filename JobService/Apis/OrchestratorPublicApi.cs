using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.JobService.Webhooks;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Apis;

/// <summary>config.yaml <c>debug_endpoints</c>: whether the debug routes under <c>/_public/debug</c> exist (off: 404).</summary>
public sealed class DebugEndpointsOptions
{
    [ConfigurationKeyName("debug_endpoints")]
    public bool Enabled { get; set; }
}

/// <summary>
/// The job service's part of the orchestrator's public routes (the gateway answers <c>/_public/status</c>,
/// <c>/_public/docs</c> and <c>/_public/metrics</c> itself).
/// </summary>
public static class OrchestratorPublicApi
{
    /// <summary>The query parameter of an approval link that carries the job's signature.</summary>
    public const string ApprovalSignatureParameter = "signature";

    public static RouteGroupBuilder MapOrchestratorPublicApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/_public/webhooks/approval/{job_id}", DecideApprovalAsync)
            .WithTags("Orchestrator public")
            .WithName("DecideApproval")
            .WithSummary("Approve or reject a job or a whole job group awaiting approval: {decision: approved|rejected, comment?}, authenticated "
                + "by the signed link the approval webhook carries (?signature=) or an operator token; 403 without either, 404 unknown id, "
                + "409 not awaiting approval");

        var debug = app.MapGroup("/_public/debug").WithTags("Orchestrator public");
        debug.MapPost("/flush_db", FlushDbAsync)
            .WithName("FlushJobState")
            .WithSummary("Debug only (debug_endpoints: true): delete every job, group, queue, stream and history; 409 while jobs are queued or running");
        return debug;
    }

    /// <summary>
    /// A person's decision on a job, or a whole job group, awaiting approval. The route is open at the gateway because
    /// the system that signs off usually has no client token; it proves itself with the signed link of that job or group
    /// instead, or comes as an operator (the role the gateway forwards). The decision is applied with the versions it was
    /// made on checked, so it is taken once; a group's decides every child still waiting, together.
    /// </summary>
    public static async Task<Results<Ok<ApprovalReceived>, ProblemHttpResult, NotFound<ProblemDetails>, Conflict<ProblemDetails>, UnprocessableEntity<ValidationErrorResponse>>> DecideApprovalAsync(
        [FromRoute(Name = "job_id")] string jobId, [FromQuery(Name = ApprovalSignatureParameter)] string? signature, [FromBody] JsonNode? body,
        HttpRequest request, WebhookSigner signer, JobStateMachine machine, TimeProvider timeProvider, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrorList();
        var (decision, comment) = ReadDecision(body, errors);
        if (errors.HasErrors)
        {
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        string decidedBy;
        if (signer.IsApprovalSignature(jobId, signature))
        {
            decidedBy = "signed_link";
        }
        else if (ClientRoles.TryParse(request.Headers[AccessHeaders.ClientRole].ToString(), out var role) && role >= ClientRole.Operator)
        {
            decidedBy = "operator:" + request.Headers[AccessHeaders.ClientName].ToString();
        }
        else
        {
            return TypedResults.Problem(
                signature is null
                    ? "An approval needs the signed link of the approval webhook (?signature=) or an operator token"
                    : "The approval signature does not match this job or group",
                statusCode: StatusCodes.Status403Forbidden);
        }

        var logger = loggers.CreateLogger(typeof(OrchestratorPublicApi));
        var approval = new ApprovalDecision(decision!, comment, decidedBy);
        var now = timeProvider.GetUtcNow();
        var result = await machine.ChangeAsync(jobId, job => JobRules.Decide(job, approval, now), cancellationToken);
        switch (result.Outcome)
        {
            case ChangeOutcome.Applied:
                logger.LogInformation("Job {JobId} was {Decision} at approval by {DecidedBy}", jobId, decision, decidedBy);
                return TypedResults.Ok(new ApprovalReceived("approval_received", jobId));
            case ChangeOutcome.NotFound:
                break;
            default:
                return JobRequestChecks.Conflict($"Job '{jobId}' is {result.Job?.Record.Status}, not awaiting approval; a decision is taken once");
        }

        switch (await machine.DecideGroupAsync(jobId, approval, cancellationToken))
        {
            case null:
                return JobRequestChecks.NotFound($"No job or job group '{jobId}'");
            case { Applied: true } decided:
                logger.LogInformation("Job group {GroupId} was {Decision} at approval by {DecidedBy}; it is {Status}", jobId, decision, decidedBy, decided.Group.Status);
                return TypedResults.Ok(new ApprovalReceived("approval_received", jobId));
            case var notWaiting:
                return JobRequestChecks.Conflict(notWaiting.Group.Status == JobGroupStatuses.Running
                    ? $"Job group '{jobId}' is running: it waits for approval once every child has rendered (an operator may decide a waiting child on its own)"
                    : $"Job group '{jobId}' is {notWaiting.Group.Status}, not awaiting approval; a decision is taken once");
        }
    }

    private static (string? Decision, string? Comment) ReadDecision(JsonNode? body, ValidationErrorList errors)
    {
        if (body is not JsonObject root)
        {
            errors.Add("model_attributes_type", "Input should be a valid dictionary or object", body?.DeepClone(), "body");
            return (null, null);
        }

        foreach (var (name, value) in root)
        {
            if (name is not ("decision" or "comment"))
            {
                errors.Add("extra_forbidden", "Extra inputs are not permitted", value?.DeepClone(), "body", name);
            }
        }

        string? decision = null;
        switch (root["decision"])
        {
            case null:
                errors.Missing(body, "body", "decision");
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String
                && value.GetValue<string>() is ApprovalDecisions.Approved or ApprovalDecisions.Rejected:
                decision = value.GetValue<string>();
                break;
            case var other:
                errors.Add("enum", "Input should be 'approved' or 'rejected'", other.DeepClone(), "body", "decision");
                break;
        }

        string? comment = null;
        switch (root["comment"])
        {
            case null:
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                comment = value.GetValue<string>();
                if (comment.Length > 4000)
                {
                    errors.Add("string_too_long", "String should have at most 4000 characters", null, "body", "comment");
                }

                break;
            case var other:
                errors.Add("string_type", "Input should be a valid string", other.DeepClone(), "body", "comment");
                break;
        }

        return (decision, comment);
    }

    /// <summary>
    /// Deletes the job engine's Redis state only: jobs, groups, queues, streams, histories and the dashboard's index.
    /// The backend registry, path mappings, gallery data and the render queues of BackendService are the user's
    /// configuration or another service's and stay, and no file is ever touched. It refuses while a job is queued or
    /// running, because a render in flight would finish with no job to report to and its node's slot would be lost.
    /// </summary>
    public static async Task<Results<Ok<FlushDbResponse>, NotFound<ProblemDetails>, Conflict<ProblemDetails>>> FlushDbAsync(
        IOptions<DebugEndpointsOptions> options, JobStore store, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (!options.Value.Enabled)
        {
            return JobRequestChecks.NotFound("Not found: the debug endpoints are off (debug_endpoints: false)");
        }

        var active = await store.CountJobsAsync(JobStatuses.Queued, cancellationToken)
            + await store.CountJobsAsync(JobStatuses.Running, cancellationToken);
        if (active > 0)
        {
            return JobRequestChecks.Conflict($"{active} jobs are queued or running; cancel them (or let them end) before flushing");
        }

        var deleted = await store.DeleteAllJobStateAsync(cancellationToken);
        loggers.CreateLogger(typeof(OrchestratorPublicApi)).LogWarning("Flushed the job engine's state: {Count} Redis keys deleted", deleted);
        return TypedResults.Ok(new FlushDbResponse("db_flushed", deleted));
    }
}
