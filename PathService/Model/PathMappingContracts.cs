using DirectorsConsole.ServiceDefaults.Paths;

namespace DirectorsConsole.PathService.Model;

/// <summary>The body of POST and PUT. Every field is optional in JSON so that a missing name is reported as a
/// 422 <c>missing</c> error like FastAPI does; the prefixes default to "" and <c>enabled</c> to true. An empty
/// name and empty or half-typed prefixes are accepted, as the web app saves a mapping on every keystroke.</summary>
public sealed record PathMappingRequest(string? Name, string? Windows, string? Linux, string? Macos, bool? Enabled);

public sealed record PathMappingListResponse(IReadOnlyList<PathMapping> Mappings, PathOs CurrentOs);

public sealed record PathMappingResponse(PathMapping Mapping);

public sealed record PathMappingDeletedResponse(bool Deleted, string Id);

/// <summary>Without <c>target_os</c> the path is translated for this server's OS, as in the original.</summary>
public sealed record TranslatePathRequest(string? Path, string? TargetOs);

/// <summary><c>translated</c> is the original unchanged when no mapping matched and the path belongs to another
/// OS; <c>mapping_id</c> is null then. <c>source_os</c> is null for a POSIX path no mapping claims.
/// <c>ignored_prefixes</c> names every stored prefix translation could not use (not a path of its OS yet).</summary>
public sealed record TranslatePathResponse(
    string Original, string Translated, PathOs CurrentOs, PathOs TargetOs, string? MappingId, PathOs? SourceOs,
    IReadOnlyList<string> IgnoredPrefixes);
