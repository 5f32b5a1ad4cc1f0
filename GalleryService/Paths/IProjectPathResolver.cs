using System.Text.Json.Nodes;

namespace DirectorsConsole.GalleryService.Paths;

/// <summary>
/// The one gate every client-supplied path passes before the gallery touches the file system: translate it to this
/// machine's OS with PathService's mappings, normalise it, resolve symbolic links, and require the result to lie
/// inside an allowed root (config.yaml's <c>project_roots</c> / <c>ORCHESTRATOR_PROJECT_ROOTS</c>, or the current
/// project). A path that fails is a <see cref="PathNotAllowedException"/> (HTTP 403, the detail naming the rule) or,
/// when it is not a path at all, a <see cref="InvalidClientPathException"/> (HTTP 422).
/// </summary>
public interface IProjectPathResolver
{
    /// <param name="clientPath">The path as the client sent it (any OS's form).</param>
    /// <param name="field">The request field it came from, for error messages (e.g. <c>folderPath</c>).</param>
    Task<ConfinedPath> ResolveAsync(string? clientPath, string field, CancellationToken cancellationToken);

    /// <summary>Resolves a path given beside a folder that already passed (a <c>filePath</c> next to a
    /// <c>projectPath</c>): relative to <paramref name="folder"/> with <c>/</c> or <c>\</c> separators, or
    /// absolute; either way the result must lie inside <paramref name="folder"/> (else 403).</summary>
    Task<ConfinedPath> ResolveWithinAsync(ConfinedPath folder, string? clientPath, string field, CancellationToken cancellationToken);

    /// <summary>The roots paths must lie in, as full paths of this machine (the current project's folder included).</summary>
    Task<IReadOnlyList<string>> AllowedRootsAsync(CancellationToken cancellationToken);
}

/// <summary>A path that passed <see cref="IProjectPathResolver"/>: <see cref="FullPath"/> is absolute, normalised,
/// free of symbolic links that lead out, and inside <see cref="Root"/>. It may or may not exist.</summary>
public sealed record ConfinedPath(string FullPath, string Root)
{
    /// <summary>The path below <see cref="Root"/> with <c>/</c> separators ("" for the root itself).</summary>
    public string RelativePath => Path.GetRelativePath(Root, FullPath) is var relative && relative == "." ? "" : relative.Replace('\\', '/');
}

/// <summary>HTTP 403: the path exists as a path but is outside every allowed root (or reaches out through a link).</summary>
public sealed class PathNotAllowedException(string field, string detail) : Exception(detail)
{
    public string Field { get; } = field;
}

/// <summary>HTTP 422 in FastAPI's list form: the value is not a usable path or name (NUL bytes, reserved names,
/// separators in a name…).</summary>
/// <param name="field">The request field, dotted and indexed as the client wrote it (<c>project.path</c>, <c>files[2]</c>).</param>
/// <param name="location">Where the field was sent: <c>body</c>, <c>query</c> or <c>header</c> (the first element of <c>loc</c>).</param>
/// <param name="input">The offending value as sent, echoed back as the error's <c>input</c>.</param>
public sealed class InvalidClientPathException(string field, string detail, string location = InvalidClientPathException.Body, JsonNode? input = null)
    : Exception(detail)
{
    public const string Body = "body";
    public const string Query = "query";
    public const string Header = "header";

    public string Field { get; } = field;

    public string Location { get; } = location;

    public JsonNode? Input { get; } = input;
}
