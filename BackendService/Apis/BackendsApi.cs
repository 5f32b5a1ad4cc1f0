using System.Text.Json;
using DirectorsConsole.Comfy;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

namespace DirectorsConsole.BackendService.Apis;

/// <summary>The render-node registry (the original's, plus add, edit, delete, enable and disable).</summary>
public static class BackendsApi
{
    private static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(10);

    public static RouteGroupBuilder MapBackendsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/backends").WithTags("Backends");

        api.MapGet("", ListBackendsAsync)
            .WithName("ListBackends")
            .WithSummary("List every backend with its status; online counts enabled backends that answer");
        api.MapGet("/{id}", GetBackendAsync)
            .WithName("GetBackend")
            .WithSummary("Get one backend");
        api.MapGet("/{id}/status", GetBackendStatusAsync)
            .WithName("GetBackendStatus")
            .WithSummary("Get a backend's runtime status: online, queue, GPU and memory, in-flight prompts");
        api.MapPost("", CreateBackendAsync)
            .WithName("CreateBackend")
            .WithSummary("Register a ComfyUI backend; the id defaults to host_port");
        api.MapPut("/{id}", UpdateBackendAsync)
            .WithName("UpdateBackend")
            .WithSummary("Replace every field of a backend");
        api.MapDelete("/{id}", DeleteBackendAsync)
            .WithName("DeleteBackend")
            .WithSummary("Remove a backend; one from config.yaml is not seeded again at the next start");
        api.MapPost("/{id}/enable", EnableBackendAsync)
            .WithName("EnableBackend")
            .WithSummary("Enable a backend: it is probed and receives work again");
        api.MapPost("/{id}/disable", DisableBackendAsync)
            .WithName("DisableBackend")
            .WithSummary("Disable a backend: it is no longer probed nor given work");
        api.MapPost("/{id}/restart", RestartBackendAsync)
            .WithName("RestartBackend")
            .WithSummary("Interrupt what runs on the node and free its memory (POST /interrupt and /free), then check it answers");
        return api;
    }

    public static async Task<Ok<BackendListResponse>> ListBackendsAsync(BackendRegistry registry, BackendStateStore states, CancellationToken cancellationToken)
    {
        var backends = await registry.ListAsync(cancellationToken);
        var runtime = await states.ListAsync(cancellationToken);
        var infos = backends.Select(b => BackendInfo.From(b, runtime.GetValueOrDefault(b.Id))).ToArray();
        var online = infos.Count(i => i.Online);
        return TypedResults.Ok(new BackendListResponse(infos, infos.Length, online, infos.Length - online));
    }

    public static async Task<Results<Ok<BackendInfo>, NotFound<ProblemDetails>>> GetBackendAsync(
        string id, BackendRegistry registry, BackendStateStore states, CancellationToken cancellationToken) =>
        await registry.FindAsync(id, cancellationToken) is { } backend
            ? TypedResults.Ok(BackendInfo.From(backend, await states.GetAsync(id, cancellationToken)))
            : BackendNotFound(id);

    public static async Task<Results<Ok<BackendStatusResponse>, NotFound<ProblemDetails>>> GetBackendStatusAsync(
        string id, BackendRegistry registry, BackendStateStore states, CancellationToken cancellationToken)
    {
        if (await registry.FindAsync(id, cancellationToken) is not { } backend)
        {
            return BackendNotFound(id);
        }

        var state = await states.GetAsync(id, cancellationToken);
        return TypedResults.Ok(BackendStatusResponse.From(BackendInfo.From(backend, state), state));
    }

    public static async Task<Results<Created<BackendInfo>, UnprocessableEntity<ValidationErrorResponse>, Conflict<ProblemDetails>>> CreateBackendAsync(
        BackendRequest request, BackendRegistry registry, BackendStateStore states, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var validation = BackendValidator.Validate(request, BackendSource.Api);
        if (!validation.IsValid)
        {
            return TypedResults.UnprocessableEntity(ToErrors(validation, request, json.Value));
        }

        var backend = validation.Backend!;
        return await registry.CreateAsync(backend, cancellationToken) switch
        {
            BackendWriteStatus.Saved => TypedResults.Created($"/api/backends/{Uri.EscapeDataString(backend.Id)}",
                BackendInfo.From(backend, await states.GetAsync(backend.Id, cancellationToken))),
            _ => TypedResults.Conflict(new ProblemDetails
            {
                Status = StatusCodes.Status409Conflict,
                Title = "Backend id taken",
                Detail = $"A backend with id '{backend.Id}' already exists; change it with PUT /api/backends/{backend.Id} or choose another id.",
            }),
        };
    }

    public static async Task<Results<Ok<BackendInfo>, NotFound<ProblemDetails>, UnprocessableEntity<ValidationErrorResponse>, Conflict<ProblemDetails>>> UpdateBackendAsync(
        string id, BackendRequest request, BackendRegistry registry, BackendStateStore states, IOptions<JsonOptions> json, TimeProvider timeProvider,
        CancellationToken cancellationToken)
    {
        if (await registry.FindAsync(id, cancellationToken) is not { } existing)
        {
            return BackendNotFound(id);
        }

        if (existing.IsAgent)
        {
            return AgentConflict(id, "its definition comes from the agent's registration; enable, disable or delete it here");
        }

        var validation = BackendValidator.Validate(request, existing.Source, routeId: id);
        if (!validation.IsValid)
        {
            return TypedResults.UnprocessableEntity(ToErrors(validation, request, json.Value));
        }

        var backend = validation.Backend!;
        if (await registry.UpdateAsync(backend, cancellationToken) != BackendWriteStatus.Saved)
        {
            return BackendNotFound(id);
        }

        var state = await ApplyEnabledAsync(backend, states, timeProvider, cancellationToken);
        return TypedResults.Ok(BackendInfo.From(backend, state));
    }

    public static async Task<Results<Ok<BackendDeletedResponse>, NotFound<ProblemDetails>>> DeleteBackendAsync(
        string id, BackendRegistry registry, CancellationToken cancellationToken) =>
        await registry.DeleteAsync(id, cancellationToken)
            ? TypedResults.Ok(new BackendDeletedResponse(true, id))
            : BackendNotFound(id);

    public static Task<Results<Ok<BackendInfo>, NotFound<ProblemDetails>>> EnableBackendAsync(
        string id, BackendRegistry registry, BackendStateStore states, TimeProvider timeProvider, CancellationToken cancellationToken) =>
        SetEnabledAsync(id, true, registry, states, timeProvider, cancellationToken);

    public static Task<Results<Ok<BackendInfo>, NotFound<ProblemDetails>>> DisableBackendAsync(
        string id, BackendRegistry registry, BackendStateStore states, TimeProvider timeProvider, CancellationToken cancellationToken) =>
        SetEnabledAsync(id, false, registry, states, timeProvider, cancellationToken);

    /// <summary>What the original's restart did, with real errors: a node that cannot be reached is a 502.</summary>
    public static async Task<Results<Ok<BackendRestartResponse>, NotFound<ProblemDetails>, Conflict<ProblemDetails>, ProblemHttpResult>> RestartBackendAsync(
        string id, BackendRestartRequest? request, BackendRegistry registry, ComfyHttpClient comfy, CancellationToken cancellationToken)
    {
        if (await registry.FindAsync(id, cancellationToken) is not { } backend)
        {
            return BackendNotFound(id);
        }

        if (backend.IsAgent)
        {
            return AgentConflict(id, "the suite does not connect to a render agent's ComfyUI; restart it on its host");
        }

        request ??= new BackendRestartRequest();
        var done = new List<string>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ControlTimeout);
        try
        {
            if (request.InterruptJobs)
            {
                await comfy.InterruptAsync(backend.BaseAddress, timeout.Token);
                done.Add("interrupted what was running");
            }

            if (request.FreeMemory)
            {
                await comfy.FreeAsync(backend.BaseAddress, unloadModels: true, freeMemory: true, timeout.Token);
                done.Add("unloaded models and freed memory");
            }

            var stats = await comfy.GetSystemStatsAsync(backend.BaseAddress, timeout.Token);
            done.Add($"it answers (ComfyUI {stats.ComfyuiVersion ?? "of unknown version"})");
        }
        catch (Exception ex) when (ex is ComfyRequestException || ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            var reason = ex is ComfyRequestException ? ex.Message : $"no answer within {ControlTimeout.TotalSeconds:0} s";
            return TypedResults.Problem(
                statusCode: StatusCodes.Status502BadGateway,
                title: "Backend unreachable",
                detail: $"Backend '{id}' at {backend.BaseAddress} could not be restarted: {reason}" + (done.Count > 0 ? $" (already done: {string.Join(", ", done)})." : "."));
        }

        return TypedResults.Ok(new BackendRestartResponse(true, $"Backend '{id}': {string.Join("; ", done)}.", id));
    }

    private static async Task<Results<Ok<BackendInfo>, NotFound<ProblemDetails>>> SetEnabledAsync(
        string id, bool enabled, BackendRegistry registry, BackendStateStore states, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        if (await registry.SetEnabledAsync(id, enabled, cancellationToken) is not { } backend)
        {
            return BackendNotFound(id);
        }

        return TypedResults.Ok(BackendInfo.From(backend, await ApplyEnabledAsync(backend, states, timeProvider, cancellationToken)));
    }

    /// <summary>A backend just disabled shows <c>disabled</c> at once (and announces it), not when its lease
    /// holder gets round to it; its workers restart with the new definition at the holder's next round.</summary>
    private static async Task<BackendRuntimeState?> ApplyEnabledAsync(
        BackendDefinition backend, BackendStateStore states, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var state = await states.GetAsync(backend.Id, cancellationToken);
        if (backend.Enabled || state?.Status == BackendStatuses.Disabled)
        {
            return state;
        }

        var now = timeProvider.GetUtcNow();
        var disabled = (state ?? new BackendRuntimeState(backend.Id, BackendStatuses.Disabled, now)) with
        {
            Status = BackendStatuses.Disabled,
            UpdatedAt = now,
            QueueRunning = 0,
            QueuePending = 0,
        };
        await states.SaveAsync(disabled, leaseHolder: null, cancellationToken);
        return disabled;
    }

    /// <summary>A validation's errors in FastAPI's list form, located in the body (a dotted field is a nested location).</summary>
    public static ValidationErrorResponse ToErrors<TRequest>(BackendValidation validation, TRequest request, JsonOptions json)
    {
        var errors = new ValidationErrorList();
        foreach (var error in validation.Errors)
        {
            object[] location = ["body", .. error.Field.Split('.')];
            if (error.Type == "missing")
            {
                // FastAPI reports the object a field is missing from as the error's input.
                errors.Missing(JsonSerializer.SerializeToNode(request, json.SerializerOptions), location);
            }
            else
            {
                errors.Invalid(error.Message, error.Input, location);
            }
        }

        return errors.ToResponse();
    }

    private static Conflict<ProblemDetails> AgentConflict(string id, string why) =>
        TypedResults.Conflict(new ProblemDetails
        {
            Status = StatusCodes.Status409Conflict,
            Title = "Backend is a render agent",
            Detail = $"Backend '{id}' is a render agent: {why}.",
        });

    private static NotFound<ProblemDetails> BackendNotFound(string id) =>
        TypedResults.NotFound(new ProblemDetails
        {
            Status = StatusCodes.Status404NotFound,
            Title = "Backend not found",
            Detail = $"Backend '{id}' not found",
        });
}
