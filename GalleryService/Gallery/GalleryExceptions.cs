using DirectorsConsole.ServiceDefaults.Errors;

namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>A gallery request that cannot be done as asked; <see cref="Status"/> is the HTTP status, the message
/// the <c>detail</c>. The gallery's endpoint filter turns these into ProblemDetails.</summary>
public class GalleryException(int status, string title, string detail) : Exception(detail)
{
    public int Status { get; } = status;

    public string Title { get; } = title;

    /// <summary>Extra members of the problem body (e.g. the conflicting names of a batch rename).</summary>
    public IDictionary<string, object?> Extensions { get; } = new Dictionary<string, object?>();

    public static GalleryException NotFound(string detail) => new(StatusCodes.Status404NotFound, "Not found", detail);

    public static GalleryException Conflict(string detail) => new(StatusCodes.Status409Conflict, "Conflict", detail);

    public static GalleryException BadRequest(string detail) => new(StatusCodes.Status400BadRequest, "Bad request", detail);
}

/// <summary>gallery.json could not be read; it has been kept aside as <see cref="PreservedAs"/> (HTTP 409).</summary>
public sealed class GalleryCorruptException(string galleryFile, string? preservedAs, string reason)
    : GalleryException(StatusCodes.Status409Conflict, "gallery.json is corrupt",
        preservedAs is null
            ? $"{galleryFile} is not a readable gallery file ({reason}) and could not be moved aside; fix or remove it by hand."
            : $"{galleryFile} was not a readable gallery file ({reason}). It has been kept as {preservedAs}; ratings, tags and views start empty from the next request, and can be recovered from that copy.")
{
    public string GalleryFile { get; } = galleryFile;

    public string? PreservedAs { get; } = preservedAs;
}

/// <summary>Other writers kept the project's gallery busy (lock not granted, or the file changed on every attempt): 503.</summary>
public sealed class GalleryBusyException(string detail)
    : GalleryException(StatusCodes.Status503ServiceUnavailable, "Gallery busy", detail);

/// <summary>Request fields that are missing or wrong: 422 in FastAPI's list form.</summary>
public sealed class GalleryValidationException(ValidationErrorList errors) : Exception(string.Join("; ", errors.Errors.Select(e => e.Msg)))
{
    public ValidationErrorList Errors { get; } = errors;
}
