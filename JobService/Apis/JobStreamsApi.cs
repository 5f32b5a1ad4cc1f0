using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

namespace DirectorsConsole.JobService.Apis;

/// <summary>
/// The WebSockets that stream a job group's (API doc 4) or a single job's (API doc 2 phase 2) events. Any number of
/// clients may watch one stream, on any replica. Protocol:
/// <list type="bullet">
/// <item>the first message is <c>initial_state</c> (the group as <c>GET /api/job-groups/{id}</c> shows it, or the job as
/// <c>GET /api/jobs/{id}</c>) with <c>sequence</c> = the last event it includes; then every later event in order, each
/// with its <c>sequence</c> (1, 2, 3… without gaps per stream);</item>
/// <item><c>?since=N</c> instead replays every stored event after N, then continues live (no <c>initial_state</c>);</item>
/// <item>client <c>ping</c> or <c>{"type":"ping"}</c> → <c>{"type":"pong"}</c>; <c>close</c> → normal close (1000);</item>
/// <item>unknown id: accepted, then closed with 1008 and a reason naming it; a client more than
/// <see cref="JobStreamOptions.ClientBufferSize"/> events behind: 1008 with the sequence to resume from; the event
/// store unavailable: 1011; the server stopping: 1001;</item>
/// <item>after <c>group_complete</c> (or the job's final event) the socket stays open until the client closes it.</item>
/// <item>while a prompt renders, its previews: <c>job_preview</c> on the job's stream, <c>child_preview</c> on the
/// group's; not events (no <c>sequence</c>, never replayed), and a client that is behind gets only the newest of each job.</item>
/// </list>
/// </summary>
public static class JobStreamsApi
{
    public static IEndpointRouteBuilder MapJobStreamsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/ws/job-groups/{id}", StreamJobGroupAsync)
            .WithTags("Job Groups")
            .WithName("StreamJobGroup")
            .WithSummary("WebSocket: initial_state, then every event of the group in order (child_progress, child_completed, child_failed, child_timeout, child_cancelled, child_awaiting_approval, group_awaiting_approval, group_complete), and child_preview messages without a sequence; ?since=N replays after N")
            .Produces(StatusCodes.Status101SwitchingProtocols);
        app.MapGet("/api/job/{id}/stream", StreamJobAsync)
            .WithTags("Jobs")
            .WithName("StreamJob")
            .WithSummary("WebSocket: initial_state, then every event of the job in order, and job_preview messages without a sequence; ?since=N replays after N")
            .Produces(StatusCodes.Status101SwitchingProtocols);
        return app;
    }

    public static Task<Results<EmptyHttpResult, BadRequest<ProblemDetails>, UnprocessableEntity<ValidationErrorResponse>>> StreamJobGroupAsync(
        string id, HttpContext context, IJobEngine engine, IJobEventStream events, IOptions<JobStreamOptions> options, IOptions<JsonOptions> json,
        IHostApplicationLifetime lifetime, ILogger<JobStreamSession> logger, long? since = null) =>
        StreamAsync(context, JobStreamId.Group(id), since, JobGroupsApi.GroupNotFoundDetail(id), async cancellationToken =>
            await engine.GetGroupAsync(id, cancellationToken) is { } view
                ? ToObject(JobGroupStatusResponse.From(view), json.Value.SerializerOptions)
                : null,
            events, options.Value, lifetime, logger);

    public static Task<Results<EmptyHttpResult, BadRequest<ProblemDetails>, UnprocessableEntity<ValidationErrorResponse>>> StreamJobAsync(
        string id, HttpContext context, IJobEngine engine, IJobEventStream events, IOptions<JobStreamOptions> options, IOptions<JsonOptions> json,
        IHostApplicationLifetime lifetime, ILogger<JobStreamSession> logger, long? since = null) =>
        StreamAsync(context, JobStreamId.Job(id), since, $"Job {id} not found", async cancellationToken =>
            await engine.GetJobAsync(id, cancellationToken) is { } job
                ? ToObject(JobStatusResponse.From(job), json.Value.SerializerOptions)
                : null,
            events, options.Value, lifetime, logger);

    private static async Task<Results<EmptyHttpResult, BadRequest<ProblemDetails>, UnprocessableEntity<ValidationErrorResponse>>> StreamAsync(
        HttpContext context, JobStreamId stream, long? since, string notFoundReason, Func<CancellationToken, Task<JsonObject?>> readState,
        IJobEventStream events, JobStreamOptions options, IHostApplicationLifetime lifetime, ILogger logger)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            return JobRequestChecks.BadRequest($"{context.Request.Path} is a WebSocket endpoint: connect with ws:// (Upgrade: websocket)");
        }

        if (since is < 0)
        {
            return TypedResults.UnprocessableEntity(new ValidationErrorList()
                .Add("greater_than_equal", "Input should be greater than or equal to 0", JsonValue.Create(since.Value), "query", "since")
                .ToResponse());
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = options.KeepAliveInterval,
            KeepAliveTimeout = options.KeepAliveTimeout,
        });
        await using var session = new JobStreamSession(socket, stream, events, options, logger, HeldWebSocketWrites.StreamOf(context));
        await using var onStopping = lifetime.ApplicationStopping.Register(() => _ = session.StopAsync());
        await session.RunAsync(since, readState, notFoundReason, context.RequestAborted);
        return TypedResults.Empty;
    }

    private static JsonObject ToObject<T>(T value, JsonSerializerOptions options) =>
        JsonSerializer.SerializeToNode(value, options)!.AsObject();
}
