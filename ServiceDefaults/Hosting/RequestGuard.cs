using System.Text;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.Net.Http.Headers;

namespace DirectorsConsole.ServiceDefaults.Hosting;

/// <summary>
/// Refuses, with a JSON problem, requests that no endpoint could read: a request target or headers over
/// <see cref="RequestLimits"/> (414, 431; the target measured percent-encoded, as sent), and a JSON body in a charset .NET cannot decode (415), which the
/// endpoints' JSON reader would otherwise turn into a 500.
/// </summary>
public static class RequestGuard
{
    public static async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (Refusal(context.Request) is ({ } status, { } detail))
        {
            await ApiErrorHandling.WriteProblemAsync(context, status, detail);
            return;
        }

        await next(context);
    }

    private static (int? Status, string? Detail) Refusal(HttpRequest request)
    {
        var target = request.GetEncodedPathAndQuery();
        if (target.Length > RequestLimits.MaxRequestTargetLength)
        {
            return (StatusCodes.Status414UriTooLong,
                $"The request target (path and query) is {target.Length} characters long; at most {RequestLimits.MaxRequestTargetLength} are accepted.");
        }

        var headerBytes = request.Headers.Sum(header => header.Key.Length + header.Value.Sum(value => value?.Length ?? 0));
        if (headerBytes > RequestLimits.MaxRequestHeadersBytes)
        {
            return (StatusCodes.Status431RequestHeaderFieldsTooLarge,
                $"The request headers total {headerBytes} bytes; at most {RequestLimits.MaxRequestHeadersBytes} are accepted.");
        }

        if (UnreadableJsonCharset(request.ContentType) is { } charset)
        {
            return (StatusCodes.Status415UnsupportedMediaType,
                $"The charset '{charset}' of the JSON body is not supported; send it as UTF-8 (Content-Type: application/json; charset=utf-8).");
        }

        return (null, null);
    }

    /// <summary>The charset of a JSON content type when no encoding of that name exists, else null.</summary>
    private static string? UnreadableJsonCharset(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var mediaType) || !mediaType.Charset.HasValue)
        {
            return null;
        }

        var subtype = mediaType.SubType.Value ?? "";
        var isJson = subtype.Equals("json", StringComparison.OrdinalIgnoreCase) || subtype.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
        if (!isJson)
        {
            return null;
        }

        var charset = mediaType.Charset.Value!.Trim('"');
        try
        {
            Encoding.GetEncoding(charset);
            return null;
        }
        catch (ArgumentException)
        {
            return charset;
        }
    }
}
