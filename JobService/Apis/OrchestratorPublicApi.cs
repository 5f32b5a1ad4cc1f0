using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
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
    public static RouteGroupBuilder MapOrchestratorPublicApi(this IEndpointRouteBuilder app)
    {
        var debug = app.MapGroup("/_public/debug").WithTags("Orchestrator public");
        debug.MapPost("/flush_db", FlushDbAsync)
            .WithName("FlushJobState")
            .WithSummary("Debug only (debug_endpoints: true): delete every job, group, queue, stream and history; 409 while jobs are queued or running");
        return debug;
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

        var active = await store.CountAsync(JobKeys.JobStatusIndex(JobStatuses.Queued), cancellationToken)
            + await store.CountAsync(JobKeys.JobStatusIndex(JobStatuses.Running), cancellationToken);
        if (active > 0)
        {
            return JobRequestChecks.Conflict($"{active} jobs are queued or running; cancel them (or let them end) before flushing");
        }

        var deleted = await store.DeleteAllJobStateAsync(cancellationToken);
        loggers.CreateLogger(typeof(OrchestratorPublicApi)).LogWarning("Flushed the job engine's state: {Count} Redis keys deleted", deleted);
        return TypedResults.Ok(new FlushDbResponse("db_flushed", deleted));
    }
}
