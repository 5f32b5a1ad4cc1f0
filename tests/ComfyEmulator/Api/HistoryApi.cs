using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Json;
using DirectorsConsole.ComfyEmulator.Queue;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DirectorsConsole.ComfyEmulator.Api;

/// <summary><c>GET /history</c>, <c>GET /history/{prompt_id}</c> and <c>POST /history</c>.</summary>
public static class HistoryApi
{
    public static RouteGroupBuilder MapHistoryApi(this RouteGroupBuilder routes)
    {
        routes.MapGet("/history", GetHistory);
        routes.MapGet("/history/{promptId}", GetPromptHistory);
        routes.MapPost("/history", PostHistory);
        return routes;
    }

    /// <summary>Oldest first; <c>max_items</c> alone gives the newest N, <c>offset</c> skips from the oldest. A non-integer is aiohttp's 500.</summary>
    public static ContentHttpResult GetHistory(HttpRequest request, PromptQueue queue)
    {
        try
        {
            var maxItems = request.Query.TryGetValue("max_items", out var max) ? (int?)ParseInt(max.ToString()) : null;
            var offset = request.Query.TryGetValue("offset", out var skip) ? ParseInt(skip.ToString()) : -1;
            return ComfyResults.Json(queue.History(maxItems, offset));
        }
        catch (PythonException)
        {
            return ComfyResults.ServerError();
        }
    }

    /// <summary><c>{}</c> while the prompt is queued or running, for an unknown id, and after a restart.</summary>
    public static ContentHttpResult GetPromptHistory(string promptId, PromptQueue queue) => ComfyResults.Json(queue.HistoryOf(promptId));

    public static async Task<ContentHttpResult> PostHistory(HttpRequest request, PromptQueue queue, CancellationToken cancellationToken)
    {
        var (isJson, body) = await ComfyResults.ReadJsonAsync(request, cancellationToken);
        if (!isJson || body is not JsonObject command) return ComfyResults.ServerError();
        if (command["clear"] is { } clear && PythonValues.Truthy(clear)) queue.WipeHistory();
        if (command["delete"] is JsonArray ids)
        {
            foreach (var id in ids)
            {
                if (PythonValues.Kind(id) == JsonValueKind.String) queue.DeleteHistory(id!.GetValue<string>());
            }
        }
        return ComfyResults.Empty();
    }

    private static int ParseInt(string text) => (int)PythonValues.AsDecimal(PythonValues.ToInt(JsonValue.Create(text), []));
}
