using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Json;
using DirectorsConsole.ComfyEmulator.Queue;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DirectorsConsole.ComfyEmulator.Api;

/// <summary><c>GET/POST /queue</c>, <c>POST /interrupt</c> and <c>POST /free</c>.</summary>
public static class QueueApi
{
    public static RouteGroupBuilder MapQueueApi(this RouteGroupBuilder routes)
    {
        routes.MapGet("/queue", GetQueue);
        routes.MapPost("/queue", PostQueue);
        routes.MapPost("/interrupt", PostInterrupt);
        routes.MapPost("/free", PostFree);
        return routes;
    }

    /// <summary>Entries are <c>[number, prompt_id, prompt, extra_data, outputs_to_execute]</c>; pending is the raw heap order.</summary>
    public static ContentHttpResult GetQueue(PromptQueue queue)
    {
        var (running, pending) = queue.Snapshot();
        return ComfyResults.Json(new JsonObject
        {
            ["queue_running"] = new JsonArray([.. running.Select(item => (JsonNode?)item.ToJson())]),
            ["queue_pending"] = new JsonArray([.. pending.Select(item => (JsonNode?)item.ToJson())]),
        });
    }

    /// <summary><c>{"clear": true}</c> and/or <c>{"delete": [ids]}</c>; the running prompt is never touched.</summary>
    public static async Task<ContentHttpResult> PostQueue(HttpRequest request, PromptQueue queue, CancellationToken cancellationToken)
    {
        var (isJson, body) = await ComfyResults.ReadJsonAsync(request, cancellationToken);
        if (!isJson || body is not JsonObject command) return ComfyResults.ServerError();
        if (command["clear"] is { } clear && PythonValues.Truthy(clear)) queue.Wipe();
        if (command["delete"] is JsonArray ids)
        {
            foreach (var id in ids)
            {
                if (PythonValues.Kind(id) == JsonValueKind.String) queue.Delete(id!.GetValue<string>());
            }
        }
        return ComfyResults.Empty();
    }

    /// <summary>
    /// With <c>{"prompt_id": id}</c> only that prompt is interrupted, and only if it is running; with no body (or no id)
    /// whatever runs is. Always 200.
    /// </summary>
    public static async Task<ContentHttpResult> PostInterrupt(HttpRequest request, PromptQueue queue, CancellationToken cancellationToken)
    {
        var (_, body) = await ComfyResults.ReadJsonAsync(request, cancellationToken);
        var promptId = body is JsonObject command ? command["prompt_id"] : null;
        if (promptId is not null && PythonValues.Truthy(promptId))
        {
            queue.Interrupt(PythonValues.Kind(promptId) == JsonValueKind.String ? promptId.GetValue<string>() : PythonJson.Serialize(promptId));
        }
        else
        {
            queue.Interrupt(promptId: null);
        }
        return ComfyResults.Empty();
    }

    /// <summary>The emulator holds no models, so there is nothing to unload; the request is accepted as ComfyUI accepts it.</summary>
    public static async Task<ContentHttpResult> PostFree(HttpRequest request, CancellationToken cancellationToken)
    {
        var (isJson, body) = await ComfyResults.ReadJsonAsync(request, cancellationToken);
        return isJson && body is JsonObject ? ComfyResults.Empty() : ComfyResults.ServerError();
    }
}
