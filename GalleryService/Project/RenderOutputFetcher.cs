using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.ServiceDefaults.Backends;
using Microsoft.Extensions.Options;
using Polly.Timeout;

namespace DirectorsConsole.GalleryService.Project;

/// <summary>
/// Opens the image a save-image request names, from the only places an image may come from: a
/// <c>data:</c> URL, or a ComfyUI <c>/view</c> of a backend in the registry (<see cref="BackendDirectory"/>; written as the
/// node's own <c>http://host:port/view?…</c> or as BackendService's <c>/api/backends/{id}/view?…</c>; a render agent's
/// outputs are fetched from BackendService, which keeps them). Any other
/// host, path or scheme is refused before a connection is made, so the endpoint cannot be used to reach other
/// machines (the original fetched any URL). Only <c>filename</c>, <c>subfolder</c> and <c>type</c>
/// are passed on, redirects are not followed, and the answer is read with a size limit.
/// </summary>
public sealed class RenderOutputFetcher(
    BackendDirectory directory, IHttpClientFactory httpClientFactory, IOptions<AccessOptions> access, ILogger<RenderOutputFetcher> logger)
{
    public const string HttpClientName = "render-outputs";

    /// <summary>Where a render agent's outputs are fetched from: BackendService keeps them (the suite cannot reach the agent).</summary>
    public const string BackendServiceAddress = "http://backend-service";

    /// <summary>The largest image saved.</summary>
    public const long MaxImageBytes = 1024L * 1024 * 1024;

    /// <summary>The bytes of a <c>data:[type];base64,…</c> URL; 422 for anything else or bad base64.</summary>
    public static byte[] DecodeDataUrl(string? dataUrl, string field)
    {
        if (string.IsNullOrEmpty(dataUrl))
        {
            throw Unprocessable($"'{field}' is required.");
        }

        var comma = dataUrl.IndexOf(',');
        if (!dataUrl.StartsWith("data:", StringComparison.OrdinalIgnoreCase) || comma < 0
            || !dataUrl.AsSpan(0, comma).EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
        {
            throw Unprocessable($"'{field}' must be a base64 data URL (data:image/png;base64,…).");
        }

        var mediaType = dataUrl[5..(comma - 7)];
        if (mediaType.Length > 0 && !mediaType.StartsWith("image/", StringComparison.OrdinalIgnoreCase) && !mediaType.StartsWith("video/", StringComparison.OrdinalIgnoreCase))
        {
            throw Unprocessable($"'{field}' holds '{mediaType}', not an image or a video.");
        }

        try
        {
            var bytes = Convert.FromBase64String(dataUrl[(comma + 1)..]);
            return bytes.Length > 0 ? bytes : throw Unprocessable($"'{field}' holds no data.");
        }
        catch (FormatException)
        {
            throw Unprocessable($"'{field}' is not valid base64 after the comma.");
        }
    }

    /// <summary>Where <paramref name="imageUrl"/> may be fetched from: the backend's own <c>/view</c> URL. 403
    /// for a host or path that is not a registered backend's <c>/view</c>, 422 for a malformed URL.</summary>
    public async Task<Uri> ResolveViewUrlAsync(string imageUrl, string field, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(imageUrl, UriKind.RelativeOrAbsolute, out var uri))
        {
            throw Unprocessable($"'{field}' is not a URL.");
        }

        var absolute = uri.IsAbsoluteUri ? uri : new Uri(new Uri("http://relative.invalid"), uri);
        if (uri.IsAbsoluteUri && absolute.Scheme is not ("http" or "https"))
        {
            throw Forbidden($"'{field}' uses the scheme '{absolute.Scheme}'; only http(s) /view URLs of registered backends and data: URLs are accepted.");
        }

        if (!string.IsNullOrEmpty(absolute.UserInfo))
        {
            throw Forbidden($"'{field}' carries credentials; they are never sent on.");
        }

        var segments = absolute.AbsolutePath.Trim('/').Split('/');
        // Every registered backend, enabled or not: an image it rendered stays reachable while it is disabled.
        var backends = (await directory.ListDefinitionsAsync(cancellationToken)).Where(b => b.Host is { Length: > 0 } || b.IsAgent).ToList();
        BackendDefinition? backend;
        if (segments is ["api", "backends", var id, "view"])
        {
            var backendId = Uri.UnescapeDataString(id);
            backend = backends.FirstOrDefault(b => b.Id == backendId)
                ?? throw Forbidden($"'{field}' names the backend '{backendId}', which is not registered.");
        }
        else if (uri.IsAbsoluteUri && segments is ["view"] or ["api", "view"])
        {
            backend = backends.FirstOrDefault(b => !b.IsAgent && string.Equals(b.Host, absolute.Host, StringComparison.OrdinalIgnoreCase) && b.Port == absolute.Port)
                ?? throw Forbidden($"'{field}' points at {absolute.Host}:{absolute.Port}, which is not a registered backend; images are fetched only from registered render nodes.");
        }
        else
        {
            throw Forbidden($"'{field}' must be a /view URL of a registered backend (http://host:port/view?filename=… or /api/backends/{{id}}/view?filename=…) or a data: URL.");
        }

        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(absolute.Query);
        if (!query.TryGetValue("filename", out var filename) || string.IsNullOrEmpty(filename))
        {
            throw Unprocessable($"'{field}' has no filename parameter.");
        }

        var forwarded = new Dictionary<string, string?> { ["filename"] = filename.ToString() };
        foreach (var name in new[] { "subfolder", "type" })
        {
            if (query.TryGetValue(name, out var value))
            {
                forwarded[name] = value.ToString();
            }
        }

        // The node would refuse these itself (a 502 here); they are the caller's mistake, so they are named as such.
        var subfolder = forwarded.GetValueOrDefault("subfolder") ?? "";
        if (!IsPlainName(forwarded["filename"]!) || (subfolder.Length > 0 && !subfolder.Split('/', '\\').All(IsPlainName))
            || forwarded.GetValueOrDefault("type") is { } type && type is not ("output" or "input" or "temp"))
        {
            throw Unprocessable(
                $"'{field}' must be a /view URL of a registered backend with a plain filename (no '/', '\\' or '..'), a subfolder of plain names and a type of output, input or temp; got filename '{forwarded["filename"]}', subfolder '{subfolder}'.");
        }

        // A render agent's outputs were uploaded to BackendService, which serves them at the agent backend's /view.
        var baseAddress = backend.IsAgent
            ? $"{BackendServiceAddress}/api/backends/{Uri.EscapeDataString(backend.Id)}/view"
            : new UriBuilder(Uri.UriSchemeHttp, backend.Host, backend.Port, "/view").Uri.ToString();
        return new Uri(Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString(baseAddress, forwarded));
    }

    /// <summary>Opens the image at a URL from <see cref="ResolveViewUrlAsync"/>; 502 when the backend fails.</summary>
    public async Task<HttpResponseMessage> OpenAsync(Uri viewUrl, CancellationToken cancellationToken)
    {
        var client = httpClientFactory.CreateClient(HttpClientName);
        using var request = new HttpRequestMessage(HttpMethod.Get, viewUrl);
        if (viewUrl.GetLeftPart(UriPartial.Authority) == BackendServiceAddress && access.Value.GatewaySecret is { Length: > 0 } secret)
        {
            // BackendService answers only what comes through the Gateway; a service of the suite carries the same secret.
            request.Headers.TryAddWithoutValidation(AccessHeaders.GatewaySecret, secret.Trim());
        }

        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutRejectedException
                                       or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Fetching {Url} failed", viewUrl);
            throw new ApiProblemException(StatusCodes.Status502BadGateway, "Backend unreachable", $"The backend could not be reached for {viewUrl}: {ex.Message}");
        }

        if (!response.IsSuccessStatusCode)
        {
            var status = (int)response.StatusCode;
            response.Dispose();
            throw new ApiProblemException(StatusCodes.Status502BadGateway, "Backend failed", $"The backend answered {status} for {viewUrl}.");
        }

        if (response.Content.Headers.ContentLength > MaxImageBytes)
        {
            response.Dispose();
            throw new ApiProblemException(StatusCodes.Status413PayloadTooLarge, "Too large", $"The image is larger than {MaxImageBytes} bytes.");
        }

        return response;
    }

    private static bool IsPlainName(string name) =>
        name.Length is > 0 and <= 255 && name is not ("." or "..") && name.IndexOfAny(['/', '\\', '\0']) < 0 && !name.Any(char.IsControl);

    private static ApiProblemException Unprocessable(string detail) => new(StatusCodes.Status422UnprocessableEntity, "Invalid image URL", detail);

    private static ApiProblemException Forbidden(string detail) => new(StatusCodes.Status403Forbidden, "Image source not allowed", detail);
}
