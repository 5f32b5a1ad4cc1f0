using System.Text.Json.Serialization;
using DirectorsConsole.GalleryService.Gallery.Storage;

namespace DirectorsConsole.GalleryService.Gallery;

// Request bodies of the gallery endpoints: the original's snake_case names, and also the camelCase ones of API doc 3
// (GalleryWireNames). Tag ids are read as integers or strings. Fields are nullable so that a missing one is reported
// as a 422 naming it.

[AcceptsCamelCase]
public sealed record ScanTreeRequest
{
    public string? ProjectPath { get; init; }

    /// <summary>The folder whose tree is wanted (default: the project); the original sent only this.</summary>
    public string? FolderPath { get; init; }

    /// <summary>How many levels below the folder to return (default: all).</summary>
    public int? MaxDepth { get; init; }
}

[AcceptsCamelCase]
public sealed record ScanFolderRequest
{
    public string? ProjectPath { get; init; }

    public string? FolderPath { get; init; }

    public int? Offset { get; init; }

    public int? Limit { get; init; }

    /// <summary><c>name</c> (default), <c>modified</c>, <c>created</c>, <c>size</c>, <c>type</c> or <c>rating</c>.</summary>
    public string? SortField { get; init; }

    /// <summary><c>asc</c> (default) or <c>desc</c>.</summary>
    public string? SortDirection { get; init; }

    /// <summary>Only these kinds: <c>image</c>, <c>video</c>.</summary>
    public IReadOnlyList<string>? Types { get; init; }

    /// <summary>Only names containing this text (ignoring case).</summary>
    [AlsoAccepts("search")]
    public string? NameContains { get; init; }

    public int? MinRating { get; init; }

    /// <summary>Only files carrying every one of these tags.</summary>
    [JsonConverter(typeof(TagIdListConverter))]
    public List<string>? TagIds { get; init; }

    /// <summary>Read width and height of the images of the page from their headers.</summary>
    public bool? IncludeDimensions { get; init; }
}

[AcceptsCamelCase]
public sealed record ScanRecursiveRequest
{
    public string? ProjectPath { get; init; }

    public string? FolderPath { get; init; }

    public bool? IncludeDimensions { get; init; }
}

[AcceptsCamelCase]
public sealed record FileInfoRequest
{
    public string? ProjectPath { get; init; }

    public string? FilePath { get; init; }
}

[AcceptsCamelCase]
public sealed record MoveFilesRequest
{
    public string? ProjectPath { get; init; }

    [AlsoAccepts("file_paths")]
    [AlsoAccepts("filePaths")]
    public IReadOnlyList<string?>? Files { get; init; }

    [AlsoAccepts("target_folder")]
    [AlsoAccepts("targetFolder")]
    public string? Destination { get; init; }

    /// <summary><c>rename</c> (default: add <c>_N</c>), <c>skip</c> or <c>overwrite</c>.</summary>
    public string? Conflict { get; init; }
}

[AcceptsCamelCase]
public sealed record RenameFileRequest
{
    public string? ProjectPath { get; init; }

    public string? FilePath { get; init; }

    public string? NewName { get; init; }
}

[AcceptsCamelCase]
public sealed record BatchRenameRequest
{
    public string? ProjectPath { get; init; }

    [AlsoAccepts("file_paths")]
    [AlsoAccepts("filePaths")]
    public IReadOnlyList<string?>? Files { get; init; }

    /// <summary><c>template</c> (default), <c>regex</c> or <c>sequential</c>.</summary>
    public string? Mode { get; init; }

    [AlsoAccepts("pattern")]
    public string? Template { get; init; }

    /// <summary>Regex mode: the pattern, applied to the name without its extension.</summary>
    public string? Find { get; init; }

    /// <summary>Regex mode: the replacement (<c>$1</c> for groups).</summary>
    public string? Replace { get; init; }

    public bool? CaseSensitive { get; init; }

    /// <summary>Sequential mode: the text before the number (template tokens allowed; default <c>{folder}_</c>).</summary>
    public string? Prefix { get; init; }

    [AlsoAccepts("start_index")]
    [AlsoAccepts("startIndex")]
    public int? StartNumber { get; init; }

    /// <summary>Digits of <c>{index}</c> and of sequential numbers, 1–6 (default 3).</summary>
    public int? PadWidth { get; init; }

    /// <summary>Default true: only preview.</summary>
    public bool? DryRun { get; init; }

    /// <summary>The value of <c>{project}</c> (default: the project folder's name).</summary>
    public string? ProjectName { get; init; }
}

[AcceptsCamelCase]
public sealed record AutoRenameRequest
{
    public string? ProjectPath { get; init; }

    public string? FolderPath { get; init; }

    [AlsoAccepts("pattern")]
    public string? NamingPattern { get; init; }

    [AlsoAccepts("start_index")]
    public int? StartNumber { get; init; }

    public bool? DryRun { get; init; }

    public string? ProjectName { get; init; }
}

[AcceptsCamelCase]
public sealed record TrashRequest
{
    public string? ProjectPath { get; init; }

    [AlsoAccepts("file_paths")]
    [AlsoAccepts("filePaths")]
    public IReadOnlyList<string?>? Files { get; init; }

    /// <summary>The original could send files to the system's recycle bin instead; this service always uses the
    /// project's trash (a server's recycle bin is out of the user's reach), so the flag is accepted and not used.</summary>
    public bool? UseOsTrash { get; init; }
}

/// <summary>The items to restore: by <see cref="TrashIds"/>, or as the original by <see cref="FilePaths"/>, the
/// <c>path</c> of each item in the trash listing.</summary>
[AcceptsCamelCase]
public sealed record RestoreRequest
{
    public string? ProjectPath { get; init; }

    public IReadOnlyList<string?>? TrashIds { get; init; }

    public IReadOnlyList<string?>? FilePaths { get; init; }
}

[AcceptsCamelCase]
public sealed record EmptyTrashRequest
{
    public string? ProjectPath { get; init; }

    /// <summary>Only these items (default: the whole trash).</summary>
    public IReadOnlyList<string?>? TrashIds { get; init; }
}

[AcceptsCamelCase]
public sealed record SetRatingRequest
{
    public string? ProjectPath { get; init; }

    public string? FilePath { get; init; }

    /// <summary>1–5; 0 removes the rating.</summary>
    public int? Rating { get; init; }

    /// <summary>The original's form: several files at once, path → rating.</summary>
    public IReadOnlyDictionary<string, int>? Ratings { get; init; }
}

[AcceptsCamelCase]
public sealed record SaveTagRequest
{
    public string? ProjectPath { get; init; }

    /// <summary>Given: update that tag; absent: create one.</summary>
    [JsonConverter(typeof(TagIdConverter))]
    public string? TagId { get; init; }

    public string? Name { get; init; }

    /// <summary><c>#rrggbb</c> or <c>#rgb</c>; an update keeps the colour when absent (the original reset it).</summary>
    public string? Color { get; init; }
}

[AcceptsCamelCase]
public sealed record DeleteTagRequest
{
    public string? ProjectPath { get; init; }

    [JsonConverter(typeof(TagIdConverter))]
    public string? TagId { get; init; }
}

[AcceptsCamelCase]
public sealed record FileTagsRequest
{
    public string? ProjectPath { get; init; }

    public string? FilePath { get; init; }

    [JsonConverter(typeof(TagIdListConverter))]
    public List<string>? AddTags { get; init; }

    [JsonConverter(typeof(TagIdListConverter))]
    public List<string>? RemoveTags { get; init; }

    /// <summary>The original's form: these ids, with <see cref="Action"/> <c>add</c> or <c>remove</c>.</summary>
    [JsonConverter(typeof(TagIdListConverter))]
    public List<string>? TagIds { get; init; }

    public string? Action { get; init; }
}

[AcceptsCamelCase]
public sealed record SaveViewRequest
{
    public string? ProjectPath { get; init; }

    public string? Name { get; init; }

    public string? ViewMode { get; init; }

    public string? SortField { get; init; }

    public string? SortDirection { get; init; }

    public int? ThumbnailSize { get; init; }

    public string? FiltersJson { get; init; }

    public string? CurrentPath { get; init; }

    public string? FolderTreeState { get; init; }

    public bool? IsDefault { get; init; }
}

[AcceptsCamelCase]
public sealed record SearchRequest
{
    public string? ProjectPath { get; init; }

    public string? Query { get; init; }

    /// <summary>Default <c>prompt</c>, <c>workflow</c>, <c>parameters</c>; also <c>negative_prompt</c> or any PNG text keyword.</summary>
    public IReadOnlyList<string>? Fields { get; init; }

    public string? FolderPath { get; init; }

    public int? MaxResults { get; init; }
}

[AcceptsCamelCase]
public sealed record FindDuplicatesRequest
{
    public string? ProjectPath { get; init; }

    public string? FolderPath { get; init; }
}

[AcceptsCamelCase]
public sealed record FolderStatsRequest
{
    public string? ProjectPath { get; init; }

    public string? FolderPath { get; init; }
}
