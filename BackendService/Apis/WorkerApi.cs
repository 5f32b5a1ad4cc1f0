using System.Text.Json;
using DirectorsConsole.BackendService.Agents;
using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

namespace DirectorsConsole.BackendService.Apis;

/// <summary>
/// The render agents' protocol (<c>/_worker</c>, docs/render-agents.md): an agent registers as a backend of kind
/// <c>agent</c>, keeps a heartbeat, long-polls for the prompts the scheduler sent its backend, relays its ComfyUI's
/// messages over a WebSocket, uploads its outputs and posts each result. The Gateway decides who may call (a worker
/// token) and forwards the worker id the token is bound to in <c>X-Worker-Id</c> (<c>*</c> for the shared token); a
/// bound id acting for another worker is a 403 here.
/// </summary>
public static class WorkerApi
{
    public static IEndpointRouteBuilder MapWorkerApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/_worker").WithTags("Render agents");
        api.MapPost("/workers/register", RegisterAsync)
            .WithName("RegisterRenderAgent")
            .WithSummary("Register a render agent (or update its registration) as a backend of kind agent");
        api.MapPatch("/workers/{worker_id}", HeartbeatAsync)
            .WithName("RenderAgentHeartbeat")
            .WithSummary("Heartbeat: an empty body is a ping; a body reports status and load and is answered with the tasks to stop")
            .Accepts<AgentHeartbeat>("application/json");
        api.MapGet("/workers/{worker_id}/tasks/next", NextTaskAsync)
            .WithName("NextRenderAgentTask")
            .WithSummary("Long-poll for the next task: 200 with a task, 204 when none came within the timeout");
        api.MapGet("/ws/{worker_id}", SocketAsync)
            .WithName("RenderAgentSocket")
            .WithSummary("WebSocket: the agent relays its ComfyUI's messages; the server pushes cancel_task");
        api.MapPut("/tasks/{task_id}/outputs", PutOutputAsync)
            .WithName("UploadRenderAgentOutput")
            .WithSummary("Upload one output file of a task (stored under data_dir, served by the agent backend's /view)");
        api.MapPost("/tasks/result", ResultAsync)
            .WithName("RenderAgentTaskResult")
            .WithSummary("Post a task's result: accepted once; a duplicate or stale result is ignored and changes nothing");
        return app;
    }

    public static async Task<Results<Ok<AgentRegistered>, UnprocessableEntity<ValidationErrorResponse>, ProblemHttpResult>> RegisterAsync(
        AgentRegistration registration, HttpContext context, BackendRegistry registry, AgentPresenceStore presence, IOptions<AgentOptions> options,
        IOptions<JsonOptions> json, ILogger<AgentRegistration> logger, CancellationToken cancellationToken)
    {
        var validation = BackendValidator.ValidateAgent(registration);
        if (!validation.IsValid)
        {
            return TypedResults.UnprocessableEntity(BackendsApi.ToErrors(validation, registration, json.Value));
        }

        var wanted = validation.Backend!;
        if (Refusal(context, wanted.Id) is { } refused)
        {
            return refused;
        }

        for (var attempt = 0; ; attempt++)
        {
            var existing = await registry.FindAsync(wanted.Id, cancellationToken);
            if (existing is { IsAgent: false })
            {
                return Problem(StatusCodes.Status409Conflict,
                    $"'{wanted.Id}' is the id of a ComfyUI backend ({existing.Host}:{existing.Port}) that the suite connects to; a render agent needs an id of its own.");
            }

            // A registration again keeps what an operator changed since (enabled or disabled).
            var definition = existing is null ? wanted : wanted with { Enabled = existing.Enabled };
            var status = existing is null
                ? await registry.CreateAsync(definition, cancellationToken)
                : BackendRegistry.Serialize(existing) == BackendRegistry.Serialize(definition) ? BackendWriteStatus.Saved : await registry.UpdateAsync(definition, cancellationToken);
            if (status == BackendWriteStatus.Saved)
            {
                break;
            }

            if (attempt >= 3)
            {
                return Problem(StatusCodes.Status409Conflict, $"The backend '{wanted.Id}' kept changing while the render agent registered; register again.");
            }
        }

        await presence.RegisterAsync(wanted.Id, registration, cancellationToken);
        logger.LogInformation("Render agent {AgentId} registered ({Models} models, {Classes} node classes, {Jobs} jobs at once)",
            wanted.Id, registration.Capabilities?.Models?.Count ?? 0, registration.Capabilities?.NodeClasses?.Count ?? 0, wanted.MaxConcurrentJobs);
        return TypedResults.Ok(new AgentRegistered("registered", wanted.Id, options.Value.HeartbeatTtl.TotalSeconds, options.Value.PollTimeout.TotalSeconds));
    }

    public static async Task<IResult> HeartbeatAsync(
        [FromRoute(Name = "worker_id")] string workerId, HttpContext context, BackendRegistry registry, AgentPresenceStore presence, AgentTaskBroker broker,
        IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        if (await FindAgentAsync(context, workerId, registry, cancellationToken) is { Problem: { } problem })
        {
            return problem;
        }

        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, cancellationToken);
        if (body.Length == 0 || body.ToArray().All(b => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
        {
            await presence.SeenAsync(workerId, cancellationToken);
            return TypedResults.Ok(new AgentPingReply("ttl_refreshed"));
        }

        AgentHeartbeat? report;
        try
        {
            report = JsonSerializer.Deserialize<AgentHeartbeat>(body.ToArray(), json.Value.SerializerOptions);
        }
        catch (JsonException ex)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, $"The heartbeat body is not a valid JSON object: {ex.Message}");
        }

        if (report is null)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "The heartbeat body must be a JSON object (or empty for a ping).");
        }

        if (report.Status is { } status && status is not ("idle" or "busy" or "draining"))
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, $"'status' must be idle, busy or draining, not '{status}'.");
        }

        var running = (report.RunningTaskIds ?? []).OfType<string>().Where(id => id.Length is > 0 and <= 128).Distinct(StringComparer.Ordinal).Take(1024).ToArray();
        await presence.ReportAsync(workerId, report, cancellationToken);
        var stop = await broker.ReconcileRunningAsync(workerId, running, cancellationToken);
        return TypedResults.Ok(new AgentHeartbeatReply("ok", stop));
    }

    public static async Task<IResult> NextTaskAsync(
        [FromRoute(Name = "worker_id")] string workerId, [FromQuery(Name = "timeout_seconds")] double? timeoutSeconds, HttpContext context,
        BackendRegistry registry, AgentTaskBroker broker, IOptions<AgentOptions> options, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var found = await FindAgentAsync(context, workerId, registry, cancellationToken);
        if (found.Problem is { } problem)
        {
            return problem;
        }

        var maximum = options.Value.PollTimeout;
        if (timeoutSeconds is < 0 or > 3600 || timeoutSeconds is double.NaN)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, $"timeout_seconds must be between 0 and {maximum.TotalSeconds:0} (longer waits are cut to it).");
        }

        var timeout = timeoutSeconds is { } seconds ? TimeSpan.FromSeconds(Math.Min(seconds, maximum.TotalSeconds)) : maximum;
        var agent = found.Agent!;
        if (!agent.Enabled)
        {
            // A disabled agent gets nothing; it is told so at the pace of its polls, not at once.
            await Task.Delay(timeout, timeProvider, cancellationToken);
            return TypedResults.NoContent();
        }

        var task = await broker.NextAsync(agent, timeout, cancellationToken);
        return task is null ? TypedResults.NoContent() : TypedResults.Ok(task);
    }

    public static async Task<IResult> SocketAsync(
        [FromRoute(Name = "worker_id")] string workerId, HttpContext context, BackendRegistry registry, AgentSockets sockets, IHostApplicationLifetime lifetime,
        CancellationToken cancellationToken)
    {
        var found = await FindAgentAsync(context, workerId, registry, cancellationToken);
        if (found.Problem is { } problem)
        {
            return problem;
        }

        if (!context.WebSockets.IsWebSocketRequest)
        {
            return Problem(StatusCodes.Status400BadRequest, "This address takes a WebSocket upgrade (GET with Upgrade: websocket).");
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        await sockets.RunAsync(found.Agent!, socket, stop.Token);
        return TypedResults.Empty;
    }

    public static async Task<IResult> PutOutputAsync(
        [FromRoute(Name = "task_id")] string taskId, string? filename, string? subfolder, string? type, HttpContext context,
        DispatchStore store, BackendRegistry registry, AgentOutputStore outputs, CancellationToken cancellationToken)
    {
        if (await store.GetPromptStateAsync(taskId, cancellationToken) is not { } state
            || await registry.FindAsync(state.BackendId, cancellationToken) is not { IsAgent: true } agent)
        {
            return Problem(StatusCodes.Status404NotFound, $"No render agent holds a task '{taskId}'.");
        }

        if (Refusal(context, agent.Id) is { } refused)
        {
            return refused;
        }

        var (path, error) = outputs.Locate(agent.Id, filename, subfolder, type);
        if (error is not null)
        {
            return error.Status == StatusCodes.Status422UnprocessableEntity
                ? TypedResults.UnprocessableEntity(new ValidationErrorList().Invalid(error.Detail, System.Text.Json.Nodes.JsonValue.Create(
                    error.Field switch { "filename" => filename, "subfolder" => subfolder, _ => type }), "query", error.Field).ToResponse())
                : Problem(error.Status, error.Detail);
        }

        await outputs.SaveAsync(path!, context.Request.Body, cancellationToken);
        return TypedResults.Created((string?)null, new AgentOutputStored(Path.GetFileName(path!)));
    }

    public static async Task<IResult> ResultAsync(
        AgentTaskResult result, HttpContext context, DispatchStore store, BackendRegistry registry, AgentTaskBroker broker, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrorList();
        foreach (var (field, value) in new[] { ("task_id", result.TaskId), ("worker_id", result.WorkerId) })
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                errors.Add("missing", "Field required", null, "body", field);
            }
        }

        if (result.Result is null)
        {
            errors.Add("missing", "Field required", null, "body", "result");
        }
        else if (!AgentResultStatuses.All.Contains(result.Result.Status))
        {
            errors.Invalid("status must be success, failure or cancelled", System.Text.Json.Nodes.JsonValue.Create(result.Result.Status), "body", "result", "status");
        }

        if (errors.HasErrors)
        {
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        if (Refusal(context, result.WorkerId!) is { } refused)
        {
            return refused;
        }

        if (await store.GetPromptStateAsync(result.TaskId!, cancellationToken) is not { } state)
        {
            return TypedResults.Ok(new AgentResultReply("ignored", AgentIgnoredReasons.NotFound));
        }

        if (state.BackendId != result.WorkerId)
        {
            return Problem(StatusCodes.Status403Forbidden, $"Task '{result.TaskId}' is not worker '{result.WorkerId}''s; a result is accepted only from the worker it was handed to.");
        }

        if (await registry.FindAsync(state.BackendId, cancellationToken) is not { IsAgent: true } agent)
        {
            return TypedResults.Ok(new AgentResultReply("ignored", AgentIgnoredReasons.NotFound));
        }

        return TypedResults.Ok(await broker.AcceptResultAsync(agent, state, result, cancellationToken));
    }

    /// <summary>The registered agent a path names, or the answer: 403 for a token bound to another worker, 404 for an
    /// unknown one (the agent registers again), 409 for a backend that is not an agent.</summary>
    private static async Task<(BackendDefinition? Agent, IResult? Problem)> FindAgentAsync(
        HttpContext context, string workerId, BackendRegistry registry, CancellationToken cancellationToken)
    {
        if (Refusal(context, workerId) is { } refused)
        {
            return (null, refused);
        }

        return await registry.FindAsync(workerId, cancellationToken) switch
        {
            null => (null, Problem(StatusCodes.Status404NotFound, $"Worker '{workerId}' is not registered; register it with POST /_worker/workers/register.")),
            { IsAgent: false } => (null, Problem(StatusCodes.Status409Conflict, $"'{workerId}' is a ComfyUI backend the suite connects to, not a render agent.")),
            var agent => (agent, null),
        };
    }

    /// <summary>403 unless the worker id the Gateway forwarded may act for <paramref name="workerId"/>.</summary>
    private static ProblemHttpResult? Refusal(HttpContext context, string workerId)
    {
        var caller = context.Request.Headers[AccessHeaders.WorkerId].ToString();
        if (caller.Length == 0)
        {
            return Problem(StatusCodes.Status403Forbidden,
                "The request carries no worker identity: /_worker is reached through the gateway with an X-Worker-Token.");
        }

        return caller == AccessHeaders.AnyWorker || caller == workerId
            ? null
            : Problem(StatusCodes.Status403Forbidden, $"The worker token is bound to worker '{caller}'; it cannot act for worker '{workerId}'.");
    }

    private static ProblemHttpResult Problem(int status, string detail) => TypedResults.Problem(statusCode: status, detail: detail);
}
