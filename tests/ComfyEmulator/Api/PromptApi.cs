using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Json;
using DirectorsConsole.ComfyEmulator.Queue;
using DirectorsConsole.ComfyEmulator.Validation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DirectorsConsole.ComfyEmulator.Api;

/// <summary><c>POST /prompt</c> and <c>GET /prompt</c> (server.py <c>post_prompt</c>, <c>get_prompt</c>).</summary>
public static class PromptApi
{
    /// <summary>extra_data keys ComfyUI keeps out of the queue and history (<c>SENSITIVE_EXTRA_DATA_KEYS</c>).</summary>
    private static readonly string[] SensitiveExtraDataKeys = ["auth_token_comfy_org", "api_key_comfy_org"];

    public static RouteGroupBuilder MapPromptApi(this RouteGroupBuilder routes)
    {
        routes.MapPost("/prompt", PostPrompt);
        routes.MapGet("/prompt", GetPrompt);
        return routes;
    }

    /// <summary>
    /// Validates and queues a prompt. Every request without its own <c>number</c> takes one from the counter, even a
    /// rejected one, as in ComfyUI; <c>front: true</c> negates it so the prompt runs next.
    /// </summary>
    public static async Task<ContentHttpResult> PostPrompt(HttpRequest request, PromptValidator validator, PromptQueue queue, CancellationToken cancellationToken)
    {
        var (isJson, parsed) = await ComfyResults.ReadJsonAsync(request, cancellationToken);
        // Python's `"prompt" in body` also works on a list or a string (it is just False); anything else raises.
        if (!isJson || PythonValues.Kind(parsed) is not (JsonValueKind.Object or JsonValueKind.Array or JsonValueKind.String))
        {
            return ComfyResults.ServerError();
        }
        var body = parsed as JsonObject;

        JsonNode number;
        if (body?.ContainsKey("number") == true)
        {
            try
            {
                number = PythonValues.ToFloat(body["number"], []);
            }
            catch (PythonException)
            {
                return ComfyResults.ServerError();
            }
        }
        else
        {
            var next = queue.NextNumber();
            number = JsonValue.Create(body?["front"] is { } front && PythonValues.Truthy(front) ? -next : next);
        }

        if (body is null || !body.ContainsKey("prompt"))
        {
            return ComfyResults.Json(new JsonObject
            {
                ["error"] = PromptValidator.Error("no_prompt", "No prompt provided", "No prompt provided"),
                ["node_errors"] = new JsonObject(),
            }, StatusCodes.Status400BadRequest);
        }
        if (body["prompt"] is not JsonObject prompt) return ComfyResults.ServerError();

        var promptId = body.ContainsKey("prompt_id") ? PythonValues.Str(body["prompt_id"]) : Guid.NewGuid().ToString();
        var outcome = validator.Validate(prompt, body["partial_execution_targets"]);
        var extraData = body["extra_data"] is JsonObject given ? (JsonObject)given.DeepClone() : [];
        if (body.ContainsKey("client_id")) extraData["client_id"] = body["client_id"]?.DeepClone();

        if (!outcome.Valid)
        {
            return ComfyResults.Json(new JsonObject { ["error"] = outcome.Error, ["node_errors"] = outcome.NodeErrors }, StatusCodes.Status400BadRequest);
        }
        foreach (var key in SensitiveExtraDataKeys) extraData.Remove(key);
        queue.Put(new QueueItem(number, promptId, (JsonObject)prompt.DeepClone(), extraData, outcome.GoodOutputs, queue.NextSequence()));
        return ComfyResults.Json(new JsonObject { ["prompt_id"] = promptId, ["number"] = number.DeepClone(), ["node_errors"] = outcome.NodeErrors });
    }

    /// <summary><c>queue_remaining</c> counts the running prompt too.</summary>
    public static ContentHttpResult GetPrompt(PromptQueue queue) =>
        ComfyResults.Json(new JsonObject { ["exec_info"] = new JsonObject { ["queue_remaining"] = queue.Remaining } });
}
