using DirectorsConsole.ServiceDefaults.Paths;

namespace DirectorsConsole.GalleryService.Paths;

/// <summary>
/// Writes this machine's paths for the client of the current request: unchanged, or, when the request says the
/// client runs another OS (<c>?os=windows|linux|macos</c> or the header <c>X-Client-OS</c>; the query wins),
/// translated with PathService's mappings. A path no mapping covers is returned as this machine sees it.
/// </summary>
public interface IResponsePathFormatter
{
    /// <summary>The OS the response's paths are written for.</summary>
    PathOs TargetOs { get; }

    string Format(string fullPath);

    /// <summary><see cref="Format"/>, or null for null.</summary>
    string? FormatOrNull(string? fullPath);
}

public sealed class ResponsePathFormatter(IHttpContextAccessor httpContextAccessor, IPathTranslatorSource translators) : IResponsePathFormatter
{
    public const string QueryParameter = "os";
    public const string HeaderName = "X-Client-OS";

    public PathOs TargetOs => ClientOs(httpContextAccessor.HttpContext);

    public string Format(string fullPath)
    {
        var target = TargetOs;
        if (target == PathOs.Current)
        {
            return fullPath;
        }

        try
        {
            return translators.Current.Translate(fullPath, target).Path;
        }
        catch (PathTranslationException)
        {
            // A local name the client's OS cannot hold (e.g. ':' for Windows): the local path is the honest answer.
            return fullPath;
        }
    }

    public string? FormatOrNull(string? fullPath) => fullPath is null ? null : Format(fullPath);

    /// <summary>The OS the request asks for; <see cref="InvalidClientPathException"/> (422) for an unknown name.</summary>
    public static PathOs ClientOs(HttpContext? context)
    {
        if (context is null)
        {
            return PathOs.Current;
        }

        var (field, location, value) = context.Request.Query.TryGetValue(QueryParameter, out var query) && !string.IsNullOrWhiteSpace(query)
            ? (QueryParameter, InvalidClientPathException.Query, query.ToString())
            : (HeaderName, InvalidClientPathException.Header, context.Request.Headers[HeaderName].ToString());
        if (string.IsNullOrWhiteSpace(value))
        {
            return PathOs.Current;
        }

        return PathOs.TryParseName(value, out var os)
            ? os
            : throw new InvalidClientPathException(field, $"'{field}' must be 'windows', 'linux' or 'macos', not '{value}'.", location, value);
    }
}
