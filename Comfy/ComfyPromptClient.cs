using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.Comfy;

/// <summary>
/// The routes a dispatcher needs on a ComfyUI node: queue a prompt, read its history, the queue, cancel exactly one
/// prompt (queue delete + targeted interrupt, never a global interrupt) and stream files from <c>/view</c>.
/// Every call has the client's timeout; a refused connection, a timeout or a 5xx is a
/// <see cref="ComfyUnreachableException"/>, which callers may retry.
/// </summary>
public sealed class ComfyPromptClient(IHttpClientFactory httpClientFactory)
{
    /// <summary>The named client for JSON calls (timeout: <c>Backends:Dispatch:RequestTimeout</c>).</summary>
    public const string HttpClientName = "comfy-dispatch";

    /// <summary>The named client for <c>/view</c>: no overall timeout, because a large video streams for long;
    /// the caller limits the wait for the response headers.</summary>
    public const string ViewHttpClientName = "comfy-view";

    public async Task<ComfyPostResult> PostPromptAsync(Uri backend, ComfyPromptRequest request, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["prompt"] = request.Prompt.DeepClone(),
            ["client_id"] = request.ClientId,
            ["prompt_id"] = request.PromptId,
            ["extra_data"] = new JsonObject
            {
                ["extra_pnginfo"] = new JsonObject { ["workflow"] = request.Workflow?.DeepClone() ?? new JsonObject() },
            },
        };
        if (request.Number is { } number)
        {
            body["number"] = number;
        }

        var (status, json) = await SendJsonAsync(backend, HttpMethod.Post, "prompt", body, cancellationToken).ConfigureAwait(false);
        return status is 200 or 400
            ? ComfyResponses.ParsePostResponse(status, json, request.PromptId)
            : throw new ComfyUnreachableException($"POST /prompt on {backend} answered {status}.");
    }

    public async Task<ComfyHistoryEntry?> GetHistoryAsync(Uri backend, string promptId, CancellationToken cancellationToken)
    {
        var (status, json) = await SendJsonAsync(backend, HttpMethod.Get, $"history/{Uri.EscapeDataString(promptId)}", null, cancellationToken)
            .ConfigureAwait(false);
        EnsureOk(status, backend, "GET /history");
        return ComfyResponses.ParseHistory(json, promptId, backend);
    }

    public async Task<ComfyQueueSnapshot> GetQueueAsync(Uri backend, CancellationToken cancellationToken)
    {
        var (status, json) = await SendJsonAsync(backend, HttpMethod.Get, "queue", null, cancellationToken).ConfigureAwait(false);
        EnsureOk(status, backend, "GET /queue");
        return ComfyResponses.ParseQueue(json);
    }

    /// <summary>Stops one prompt: removes it from the pending queue and interrupts it if it is the one running.
    /// Both are no-ops for other prompts, so another job on the node is never touched.</summary>
    public async Task CancelPromptAsync(Uri backend, string promptId, CancellationToken cancellationToken)
    {
        var (deleted, _) = await SendJsonAsync(backend, HttpMethod.Post, "queue", new JsonObject { ["delete"] = new JsonArray(promptId) }, cancellationToken)
            .ConfigureAwait(false);
        EnsureOk(deleted, backend, "POST /queue");
        var (interrupted, _) = await SendJsonAsync(backend, HttpMethod.Post, "interrupt", new JsonObject { ["prompt_id"] = promptId }, cancellationToken)
            .ConfigureAwait(false);
        EnsureOk(interrupted, backend, "POST /interrupt");
    }

    /// <summary>Requests a file from <c>/view</c> and returns once the headers arrived; the caller streams and
    /// disposes the response. <paramref name="range"/> is passed on as is.</summary>
    public async Task<HttpResponseMessage> GetViewAsync(
        Uri backend, string filename, string subfolder, string type, RangeHeaderValue? range, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, ComfyResponses.ViewUrl(backend, filename, subfolder, type));
        request.Headers.Range = range;
        var client = httpClientFactory.CreateClient(ViewHttpClientName);
        try
        {
            return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new ComfyUnreachableException($"GET /view on {backend} failed: {ex.Message}", ex);
        }
    }

    private async Task<(int Status, JsonNode? Body)> SendJsonAsync(
        Uri backend, HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(backend, path));
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        }

        var client = httpClientFactory.CreateClient(HttpClientName);
        try
        {
            using var response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            JsonNode? json = null;
            if (!string.IsNullOrWhiteSpace(text))
            {
                try
                {
                    json = JsonNode.Parse(text);
                }
                catch (JsonException) when (response.StatusCode != HttpStatusCode.OK)
                {
                    // An error page that is not JSON; the status says enough.
                }
            }

            return ((int)response.StatusCode, json);
        }
        catch (HttpRequestException ex)
        {
            throw new ComfyUnreachableException($"{method} /{path} on {backend} failed: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ComfyUnreachableException($"{method} /{path} on {backend} timed out.", ex);
        }
        catch (JsonException ex)
        {
            throw new ComfyUnreachableException($"{method} /{path} on {backend} answered with JSON that cannot be read: {ex.Message}", ex);
        }
    }

    private static void EnsureOk(int status, Uri backend, string what)
    {
        if (status != 200)
        {
            throw new ComfyUnreachableException($"{what} on {backend} answered {status}.");
        }
    }
}
