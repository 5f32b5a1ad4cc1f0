using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace DirectorsConsole.RenderAgent;

/// <summary>The orchestrator did not answer, or answered 5xx or 429: the call may be made again later.</summary>
public sealed class OrchestratorUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The orchestrator does not know this worker (404 on a worker route): register again.</summary>
public sealed class WorkerNotRegisteredException(string message) : Exception(message);

/// <summary>The orchestrator refused the request (4xx); sending it again would get the same answer.</summary>
public sealed class OrchestratorRefusedException(HttpStatusCode status, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
}

/// <summary>
/// The <c>/_worker</c> routes of the suite's Gateway, with the worker token on every request. Registration goes through
/// the standard resilience handler (a registration sent twice updates the same worker). Everything else goes through
/// a client without handler retries and its caller retries with back-off: a missed heartbeat is followed by the next
/// one within a third of the TTL (a retried one would arrive late), a result is sent again only once the agent has
/// registered again (so a restarted orchestrator hears the held tasks first), a long poll is simply made again, and a
/// streamed upload cannot be sent twice.
/// </summary>
public sealed class OrchestratorClient(IHttpClientFactory httpClientFactory, IOptions<AgentOptions> options)
{
    /// <summary>Registration (standard resilience handler).</summary>
    public const string RegistrationHttpClientName = "orchestrator-registration";

    /// <summary>Heartbeats, long polls, uploads and results: no handler retries, no overall timeout (each call bounds
    /// its own wait).</summary>
    public const string HttpClientName = "orchestrator";

    private readonly AgentOptions _options = options.Value;

    private string WorkerPath => $"_worker/workers/{Uri.EscapeDataString(_options.WorkerId)}";

    public async Task<RegistrationReply> RegisterAsync(WorkerRegistration registration, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(RegistrationHttpClientName, HttpMethod.Post, "_worker/workers/register", JsonContent.Create(registration, options: WorkerProtocol.Json),
            Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, "POST /_worker/workers/register", cancellationToken).ConfigureAwait(false);
        return await ReadAsync<RegistrationReply>(response, cancellationToken).ConfigureAwait(false);
    }

    public async Task<HeartbeatReply> HeartbeatAsync(Heartbeat heartbeat, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpClientName, HttpMethod.Patch, WorkerPath, JsonContent.Create(heartbeat, options: WorkerProtocol.Json),
            _options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, "PATCH /_worker/workers/{id}", cancellationToken).ConfigureAwait(false);
        return await ReadAsync<HeartbeatReply>(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits up to <paramref name="wait"/> for a task; null when none came (204).</summary>
    public async Task<AgentTask?> NextTaskAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
        using var response = await SendAsync(HttpClientName, HttpMethod.Get, $"{WorkerPath}/tasks/next?timeout_seconds={seconds}", null,
            wait + _options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NoContent)
        {
            return null;
        }

        await EnsureSuccessAsync(response, "GET /_worker/workers/{id}/tasks/next", cancellationToken).ConfigureAwait(false);
        return await ReadAsync<AgentTask>(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>PUTs one output file; <paramref name="content"/> is streamed from the node as it arrives.</summary>
    public async Task UploadOutputAsync(string taskId, string filename, string subfolder, string type, HttpContent content, CancellationToken cancellationToken)
    {
        var path = $"_worker/tasks/{Uri.EscapeDataString(taskId)}/outputs?filename={Uri.EscapeDataString(filename)}"
            + $"&subfolder={Uri.EscapeDataString(subfolder)}&type={Uri.EscapeDataString(type)}";
        using var response = await SendAsync(HttpClientName, HttpMethod.Put, path, content, _options.UploadTimeout, cancellationToken)
            .ConfigureAwait(false);
        await EnsureSuccessAsync(response, "PUT /_worker/tasks/{id}/outputs", cancellationToken).ConfigureAwait(false);
    }

    public async Task<ResultReply> PostResultAsync(TaskResultPost result, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpClientName, HttpMethod.Post, "_worker/tasks/result", JsonContent.Create(result, options: WorkerProtocol.Json),
            _options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, "POST /_worker/tasks/result", cancellationToken).ConfigureAwait(false);
        return await ReadAsync<ResultReply>(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends one request; <paramref name="timeout"/> bounds the wait for the response headers (the
    /// resilience pipeline bounds its own calls, which pass an infinite one).</summary>
    private async Task<HttpResponseMessage> SendAsync(
        string clientName, HttpMethod method, string path, HttpContent? content, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(_options.OrchestratorBase, path)) { Content = content };
        request.Headers.Add(WorkerProtocol.TokenHeader, _options.Token);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            bounded.CancelAfter(timeout);
        }

        var client = httpClientFactory.CreateClient(clientName);
        try
        {
            return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, bounded.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutRejectedException or BrokenCircuitException
                                       || ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new OrchestratorUnavailableException($"{method} /{path.Split('?')[0]} failed: {ex.Message}", ex);
        }
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var detail = await DetailAsync(response, cancellationToken).ConfigureAwait(false);
        var status = (int)response.StatusCode;
        var message = $"{what} answered {status}{(detail is null ? "" : $": {detail}")}";
        throw response.StatusCode switch
        {
            HttpStatusCode.NotFound => new WorkerNotRegisteredException(message),
            HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout => new OrchestratorUnavailableException(message),
            _ when status >= 500 => new OrchestratorUnavailableException(message),
            _ => new OrchestratorRefusedException(response.StatusCode, message),
        };
    }

    private static async Task<string?> DetailAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            return text.Length == 0 ? null : JsonNode.Parse(text)?["detail"]?.ToString() ?? text[..Math.Min(text.Length, 200)];
        }
        catch (Exception ex) when (ex is JsonException or HttpRequestException or InvalidOperationException)
        {
            return null;
        }
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(WorkerProtocol.Json, cancellationToken).ConfigureAwait(false)
                   ?? throw new OrchestratorUnavailableException($"{response.RequestMessage?.RequestUri?.AbsolutePath} answered an empty body.");
        }
        catch (JsonException ex)
        {
            throw new OrchestratorUnavailableException($"{response.RequestMessage?.RequestUri?.AbsolutePath} answered JSON that cannot be read: {ex.Message}", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new OrchestratorUnavailableException($"{response.RequestMessage?.RequestUri?.AbsolutePath} broke off: {ex.Message}", ex);
        }
    }
}
