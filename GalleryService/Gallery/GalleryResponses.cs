using System.Text.Json.Nodes;

namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>Successful gallery bodies carry <c>success: true</c>, which the original's clients test for.
/// Errors are never 200: they are ProblemDetails with the status that fits.</summary>
public abstract record GalleryResponse
{
    public bool Success => true;
}

/// <summary>A media file as the gallery shows it. <see cref="Path"/> is written for the client's OS (<c>?os=</c>);
/// <see cref="RelPath"/> is relative to the project with <c>/</c>, the key of its rating and tags.</summary>
public sealed record FileEntry(
    string Name,
    string Path,
    string RelPath,
    long Size,
    DateTimeOffset Modified,
    DateTimeOffset Created,
    string Type,
    string Extension,
    int? Width,
    int? Height,
    int Rating,
    IReadOnlyList<string> Tags);

public sealed record FolderNode(string Name, string Path, string RelPath, int FileCount, IReadOnlyList<FolderNode> Children);

public sealed record ScanTreeResponse(string Path, string RelPath, int FileCount, int FolderCount, IReadOnlyList<FolderNode> Tree) : GalleryResponse;

public sealed record ScanFolderResponse(string Folder, string RelPath, int Total, int Offset, int Limit, IReadOnlyList<FileEntry> Files) : GalleryResponse;

public sealed record FolderFiles(string Name, string Path, string RelPath, IReadOnlyList<FileEntry> Files);

public sealed record ScanRecursiveResponse(IReadOnlyList<FolderFiles> Folders, int TotalFiles, long TotalSize) : GalleryResponse;

/// <summary>PNG text chunks: <c>prompt</c> and <c>workflow</c> as JSON when they parse (as a string otherwise),
/// <c>parameters</c> (A1111) as text, and every other keyword under <see cref="Other"/>.</summary>
public sealed record PngMetadataView(JsonNode? Prompt, JsonNode? Workflow, string? Parameters, IReadOnlyDictionary<string, string> Other);

public sealed record FileInfoResponse(FileEntry File, PngMetadataView? PngMetadata) : GalleryResponse;

public sealed record MovedFile(string From, string To, string FromRelPath, string ToRelPath);

public sealed record SkippedFile(string Path, string Reason);

public sealed record MoveFilesResponse(IReadOnlyList<MovedFile> Moved, IReadOnlyList<SkippedFile> Skipped) : GalleryResponse;

public sealed record RenameFileResponse(string OldPath, string NewPath, string RelPath, string Name) : GalleryResponse;

/// <summary>One planned rename. <see cref="Conflict"/> is null when it can be done, else <c>inBatch</c> (two
/// files would get the same name), <c>exists</c> (a file or folder of that name is there) or <c>invalid</c>
/// (not a usable name); <see cref="Detail"/> says more.</summary>
public sealed record RenamePreview(string OldPath, string OldName, string NewName, string NewPath, bool Unchanged, string? Conflict, string? Detail);

public sealed record BatchRenameResponse(bool DryRun, int Renamed, int Conflicts, IReadOnlyList<RenamePreview> Previews) : GalleryResponse;

public sealed record TrashedFile(string TrashId, string Name, string OriginalPath, string OriginalRelPath);

public sealed record TrashResponse(IReadOnlyList<TrashedFile> Trashed) : GalleryResponse;

public sealed record TrashItem(
    string TrashId, string Name, string Path, string OriginalPath, string OriginalRelPath, long Size, DateTimeOffset TrashedAt, string Type,
    int Rating, IReadOnlyList<string> Tags);

public sealed record TrashListResponse(IReadOnlyList<TrashItem> Files, int Count, long TotalSize) : GalleryResponse;

public sealed record RestoredFile(string TrashId, string Path, string RelPath);

public sealed record RestoreResponse(IReadOnlyList<RestoredFile> Restored) : GalleryResponse;

public sealed record EmptyTrashResponse(int Deleted, long FreedBytes) : GalleryResponse;

public sealed record RatingsResponse(IReadOnlyDictionary<string, int> Ratings) : GalleryResponse;

public sealed record TagView(string Id, string Name, string Color, int FileCount);

public sealed record TagsResponse(IReadOnlyDictionary<string, TagView> Tags) : GalleryResponse;

public sealed record TagResponse(TagView Tag) : GalleryResponse;

public sealed record TagDeletedResponse(string TagId, int FilesUntagged) : GalleryResponse;

public sealed record FileTagsResponse(string FilePath, string RelPath, IReadOnlyList<string> Tags) : GalleryResponse;

public sealed record ViewView(
    long Id, string Name, string ViewMode, string SortField, string SortDirection, int ThumbnailSize, string FiltersJson,
    string CurrentPath, string FolderTreeState, bool IsDefault);

public sealed record ViewsResponse(ViewView? View, IReadOnlyDictionary<string, ViewView> Views) : GalleryResponse;

public sealed record SaveViewResponse(long ViewId, ViewView View) : GalleryResponse;

public sealed record SearchHit(string FilePath, string RelPath, string MatchField, string MatchContext, int Rating);

/// <summary><see cref="Scanned"/> PNG files were searched; <see cref="MetadataRead"/> of them had to be read
/// (the rest came from the index).</summary>
public sealed record SearchResponse(IReadOnlyList<SearchHit> Results, int Total, bool Truncated, int Scanned, int MetadataRead) : GalleryResponse;

public sealed record DuplicateFile(string Path, string RelPath, int Rating);

public sealed record DuplicateGroup(string Hash, long Size, IReadOnlyList<DuplicateFile> Files);

public sealed record DuplicatesResponse(IReadOnlyList<DuplicateGroup> Groups, int TotalDuplicates, long WastedSpace, int FilesHashed) : GalleryResponse;

public sealed record ExtensionStats(int Count, long Size);

public sealed record FolderStatsResponse(
    int FileCount, long TotalSize, int ImageCount, int VideoCount, int SubfolderCount, IReadOnlyDictionary<string, ExtensionStats> ByExtension) : GalleryResponse;
