namespace DirectorsConsole.GalleryService.Project;

/// <summary>A request that cannot be served, thrown from deep inside a file operation and answered by
/// <see cref="Paths.PathExceptionHandler"/> as ProblemDetails with <see cref="Status"/> and a <c>detail</c>
/// (404 missing file, 409 name taken, 413 too large, 415 not media, 502 backend failed…).</summary>
public sealed class ApiProblemException(int status, string title, string detail) : Exception(detail)
{
    public int Status { get; } = status;

    public string Title { get; } = title;

    public static ApiProblemException NotFound(string detail) => new(StatusCodes.Status404NotFound, "Not found", detail);

    public static ApiProblemException Conflict(string detail) => new(StatusCodes.Status409Conflict, "Conflict", detail);
}
