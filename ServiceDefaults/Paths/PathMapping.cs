namespace DirectorsConsole.ServiceDefaults.Paths;

/// <summary>One shared folder as each OS sees it, e.g. <c>W:\</c> = <c>/mnt/Mandalore</c> =
/// <c>/Volumes/Mandalore</c>. An empty prefix means the folder is not reachable from that OS.</summary>
public sealed record PathMapping(string Id, string Name, string Windows, string Linux, string Macos, bool Enabled)
{
    /// <summary>The prefix for <paramref name="os"/>, empty when the mapping has none.</summary>
    public string PrefixFor(PathOs os) => os switch
    {
        PathOs.Windows => Windows,
        PathOs.Linux => Linux,
        PathOs.Macos => Macos,
        _ => throw new ArgumentOutOfRangeException(nameof(os), os, "Unknown operating system."),
    };
}

/// <summary>Published on <see cref="PathMappingKeys.ChangesChannel"/> after every change, so services that
/// cache a <see cref="PathTranslator"/> reload it. <paramref name="Change"/> is one of the
/// <see cref="PathMappingChangeKinds"/>; <paramref name="Id"/> is null for an import.</summary>
public sealed record PathMappingsChanged(string Change, string? Id, DateTimeOffset ChangedAt);

public static class PathMappingChangeKinds
{
    public const string Created = "created";
    public const string Updated = "updated";
    public const string Deleted = "deleted";
    public const string Imported = "imported";
}

/// <summary>
/// Where path mappings live in Redis; PathService writes them, every other service reads them.
/// </summary>
public static class PathMappingKeys
{
    /// <summary>Hash: field = mapping id, value = the mapping as snake_case JSON.</summary>
    public const string Mappings = "dc:path-mappings";

    /// <summary>String: an integer incremented by every change, in the same script as the change. A reader that
    /// reads it before the hash knows its copy is at least that new.</summary>
    public const string Version = "dc:path-mappings:version";

    /// <summary>String: set (SET NX) by the replica that imports the original's path_mappings.json, so the file
    /// is imported once per Redis database.</summary>
    public const string ImportedMarker = "dc:path-mappings:imported";

    /// <summary>String: the token of the delete that removed the mapping, kept a day, so a delete sent again after its
    /// reply was lost recognises that it was carried out.</summary>
    public static string Deleted(string id) => $"dc:path-mappings:deleted:{id}";

    /// <summary>Pub/sub channel carrying <see cref="PathMappingsChanged"/>.</summary>
    public const string ChangesChannel = "dc:events:path-mappings";
}
