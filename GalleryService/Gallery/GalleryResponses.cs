using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DirectorsConsole.GalleryService.Gallery.Storage;

namespace DirectorsConsole.GalleryService.Gallery;

// Reply bodies of the gallery endpoints. They carry the names, types and units of the original server, as the
// original web app reads them (written in snake_case by GalleryWireNames): file times in epoch seconds, tag ids as
// integers, flat folder lists. Fields of ours beyond those are kept where they do not disturb that app.

/// <summary>Successful gallery bodies carry <c>success: true</c> and a <c>message</c>, which the original's clients
/// test for and show. Errors are never 200: they have the status that fits, with <c>success: false</c>, a
/// <c>message</c> and the <c>detail</c>.</summary>
public abstract record GalleryResponse
{
    public bool Success => true;

    public string Message { get; init; } = "";

    /// <summary>A moment as the original wrote it (Python's <c>isoformat()</c> of a UTC time): microseconds and
    /// <c>+00:00</c>, which JavaScript's <c>Date</c> and Python's <c>fromisoformat</c> both read.</summary>
    public static string IsoTimestamp(DateTimeOffset moment) =>
        moment.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture);

    /// <summary>A file time as the original sent it: seconds since 1970 with a fraction (Python's <c>st_mtime</c>).</summary>
    public static double EpochSeconds(DateTime utc) => (utc - DateTime.UnixEpoch).Ticks / (double)TimeSpan.TicksPerSecond;
}

/// <summary>A tag as the app shows it on a file: integer id, name, colour.</summary>
public sealed record TagInfo([property: JsonConverter(typeof(TagIdConverter))] string Id, string Name, string Color)
{
    /// <summary>The tags of a file by their ids, sorted by name as the original did; ids of deleted tags are dropped.</summary>
    public static IReadOnlyList<TagInfo> Of(IEnumerable<string> ids, GalleryDocument document) =>
        ids.Where(document.Tags.ContainsKey)
            .Select(id => new TagInfo(id, document.Tags[id].Name, document.Tags[id].Color))
            .OrderBy(tag => tag.Name, StringComparer.Ordinal)
            .ToList();
}

/// <summary>A media file as the gallery shows it. <see cref="Path"/> is written for the client's OS (<c>?os=</c>);
/// <see cref="RelPath"/> is relative to the project with <c>/</c>, the key of its rating and tags. Times are epoch
/// seconds.</summary>
public sealed record FileEntry(
    string Name,
    string Path,
    string RelPath,
    long Size,
    double Modified,
    double Created,
    string Type,
    string Extension,
    int? Width,
    int? Height,
    int Rating,
    IReadOnlyList<TagInfo> Tags);

/// <summary>One folder of the flat tree list: <see cref="Subfolders"/> are the names of its children, which follow
/// it in the list (depth first, sorted). The root's <see cref="RelPath"/> is <c>.</c>.</summary>
public sealed record TreeFolderEntry(string Name, string Path, string RelPath, IReadOnlyList<string> Subfolders, int FileCount);

/// <summary>The same folders nested (API doc 3), for clients that want the tree as a tree.</summary>
public sealed record FolderNode(string Name, string Path, string RelPath, int FileCount, IReadOnlyList<FolderNode> Children);

public sealed record ScanTreeResponse(
    IReadOnlyList<TreeFolderEntry> Folders, string Path, string RelPath, int FileCount, int FolderCount, IReadOnlyList<FolderNode> Tree) : GalleryResponse;

/// <summary>One folder's files; <see cref="Total"/> counts them all, <see cref="Files"/> holds the page asked for
/// (all of them when no <c>limit</c> was given).</summary>
public sealed record ScanFolderResponse(string FolderPath, string RelPath, int Total, int Offset, int Limit, IReadOnlyList<FileEntry> Files) : GalleryResponse;

public sealed record FolderFiles(
    string Name, string Path, string RelPath, IReadOnlyList<FileEntry> Files, IReadOnlyList<string> Subfolders, int FileCount, long TotalSize);

public sealed record ScanRecursiveResponse(IReadOnlyList<FolderFiles> Folders, int TotalFiles, long TotalSize) : GalleryResponse;

/// <summary>PNG text chunks: <c>prompt</c> and <c>workflow</c> as JSON when they parse (as a string otherwise),
/// <c>parameters</c> (A1111) as text, each only when the image has it (as the original), and every other keyword
/// under <see cref="Other"/> when there are any (the app shows each member of this object as a row).</summary>
public sealed record PngMetadataView(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonNode? Prompt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonNode? Workflow,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Parameters,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyDictionary<string, string>? Other);

public sealed record FileInfoResponse(FileEntry File, PngMetadataView? PngMetadata) : GalleryResponse;

public sealed record MovedFile(string OldPath, string NewPath, string OldRelPath, string NewRelPath);

public sealed record SkippedFile(string Path, string Reason);

/// <summary><see cref="Skipped"/> lists the paths left where they were, as the original; <see cref="SkippedReasons"/>
/// says why. <see cref="Errors"/> stays empty: a move is all or nothing, and what stops it is an HTTP error.</summary>
public sealed record MoveFilesResponse(IReadOnlyList<MovedFile> Moved, IReadOnlyList<string> Skipped, IReadOnlyList<SkippedFile> SkippedReasons, IReadOnlyList<string> Errors)
    : GalleryResponse;

public sealed record RenameFileResponse(string OldPath, string NewPath, string RelPath, string Name) : GalleryResponse;

/// <summary>One planned rename. <see cref="Conflict"/> is null when it can be done, else <c>inBatch</c> (two
/// files would get the same name), <c>exists</c> (a file or folder of that name is there) or <c>invalid</c>
/// (not a usable name); <see cref="Detail"/> says more.</summary>
public sealed record RenamePreview(string OldPath, string OldName, string NewName, string NewPath, bool Unchanged, string? Conflict, string? Detail);

/// <summary><see cref="Errors"/> names each rename that cannot be done (a preview's conflicts, as the original's
/// "Target exists: …"); a real run with any of them renames nothing and answers 409.</summary>
public sealed record BatchRenameResponse(bool DryRun, int Renamed, int Conflicts, IReadOnlyList<RenamePreview> Previews, IReadOnlyList<string> Errors) : GalleryResponse;

public sealed record TrashedFile(string TrashId, string Name, string OriginalPath, string OriginalFullPath);

/// <summary><see cref="Trashed"/> lists the paths trashed, as the original; <see cref="Items"/> has their trash ids.</summary>
public sealed record TrashResponse(IReadOnlyList<string> Trashed, IReadOnlyList<TrashedFile> Items, IReadOnlyList<string> Errors) : GalleryResponse;

/// <summary>A trashed file. <see cref="Path"/> is where it lies in the trash (what a restore is given back);
/// <see cref="OriginalPath"/> is where it came from, relative to the project as the original wrote it;
/// <see cref="TrashedAt"/> is an ISO-8601 string.</summary>
public sealed record TrashItem(
    string TrashId, string Name, string Path, string OriginalPath, string OriginalFullPath, long Size, string TrashedAt, string Type,
    int Rating, IReadOnlyList<TagInfo> Tags);

public sealed record TrashListResponse(IReadOnlyList<TrashItem> Files, int Count, long TotalSize) : GalleryResponse;

public sealed record RestoredFile(string TrashId, string Path, string RelPath);

/// <summary><see cref="Restored"/> lists the paths the files are back at, as the original; <see cref="Items"/> says
/// which trash item each was.</summary>
public sealed record RestoreResponse(IReadOnlyList<string> Restored, IReadOnlyList<RestoredFile> Items, IReadOnlyList<string> Errors) : GalleryResponse;

public sealed record EmptyTrashResponse(int Deleted, long FreedBytes, IReadOnlyList<string> Errors) : GalleryResponse;

public sealed record RatingsResponse(IReadOnlyDictionary<string, int> Ratings) : GalleryResponse;

public sealed record TagView([property: JsonConverter(typeof(TagIdConverter))] string Id, string Name, string Color, int FileCount);

/// <summary>The project's tags as a list sorted by name, as the original.</summary>
public sealed record TagsResponse(IReadOnlyList<TagView> Tags) : GalleryResponse;

public sealed record TagResponse(TagView Tag) : GalleryResponse;

public sealed record TagDeletedResponse([property: JsonConverter(typeof(TagIdConverter))] string TagId, int FilesUntagged) : GalleryResponse;

public sealed record FileTagsResponse(string FilePath, string RelPath, IReadOnlyList<TagInfo> Tags) : GalleryResponse;

public sealed record ViewView(
    long Id, string Name, string ViewMode, string SortField, string SortDirection, int ThumbnailSize, string FiltersJson,
    string CurrentPath, string FolderTreeState, bool IsDefault);

public sealed record ViewsResponse(ViewView? View, IReadOnlyDictionary<string, ViewView> Views) : GalleryResponse;

public sealed record SaveViewResponse(long ViewId, ViewView View) : GalleryResponse;

public sealed record SearchHit(string FilePath, string RelPath, string MatchField, string MatchContext, int Rating);

/// <summary><see cref="Scanned"/> PNG files were searched; <see cref="MetadataRead"/> of them had to be read
/// (the rest came from the index).</summary>
public sealed record SearchResponse(IReadOnlyList<SearchHit> Results, int Total, bool Truncated, int Scanned, int MetadataRead) : GalleryResponse;

/// <summary>One copy; <see cref="Modified"/> is in epoch seconds.</summary>
public sealed record DuplicateFile(string Name, string Path, string RelPath, long Size, double Modified, int Rating);

public sealed record DuplicateGroup(string Hash, long Size, IReadOnlyList<DuplicateFile> Files);

public sealed record DuplicatesResponse(IReadOnlyList<DuplicateGroup> Groups, int TotalDuplicates, long WastedSpace, int FilesHashed) : GalleryResponse;

/// <summary>Media files below a folder (sidecars and other files are not counted, as the original):
/// <see cref="ByExtension"/> counts them per extension, <see cref="ByExtensionSize"/> adds their bytes.</summary>
public sealed record FolderStatsResponse(
    string Path, int TotalFiles, long TotalSize, int ImageCount, int VideoCount, int SubfolderCount,
    IReadOnlyDictionary<string, int> ByExtension, IReadOnlyDictionary<string, long> ByExtensionSize) : GalleryResponse;
