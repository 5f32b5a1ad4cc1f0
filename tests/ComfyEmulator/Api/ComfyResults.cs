using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DirectorsConsole.ComfyEmulator.Api;

/// <summary>
/// Responses shaped as aiohttp sends them for ComfyUI: JSON written by Python's json.dumps, an empty
/// <c>web.Response()</c> (octet-stream, no body), and aiohttp's plain-text 404 and 500 pages.
/// </summary>
public static class ComfyResults
{
    public static ContentHttpResult Json(JsonNode? body, int statusCode = StatusCodes.Status200OK) =>
        TypedResults.Text(PythonJson.Serialize(body), "application/json; charset=utf-8", statusCode: statusCode);

    public static ContentHttpResult Empty(int statusCode = StatusCodes.Status200OK) =>
        TypedResults.Text("", "application/octet-stream", statusCode: statusCode);

    public static ContentHttpResult NotFound() =>
        TypedResults.Text("404: Not Found", "text/plain; charset=utf-8", statusCode: StatusCodes.Status404NotFound);

    /// <summary>What aiohttp answers when a ComfyUI handler raises, e.g. on a body that is not JSON.</summary>
    public static ContentHttpResult ServerError() =>
        TypedResults.Text("500 Internal Server Error\n\nServer got itself in trouble", "text/plain; charset=utf-8", statusCode: StatusCodes.Status500InternalServerError);

    /// <summary>aiohttp's <c>request.json()</c>: whether the body is JSON at all, and what it parsed to.</summary>
    public static async Task<(bool IsJson, JsonNode? Body)> ReadJsonAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return (true, await JsonNode.ParseAsync(request.Body, cancellationToken: cancellationToken));
        }
        catch (JsonException)
        {
            return (false, null);
        }
    }
}
