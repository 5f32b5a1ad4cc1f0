using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace DirectorsConsole.GalleryService.Project;

// Requests take the camelCase names and also the snake_case names of the original server; when a request holds
// both, the camelCase one wins. Responses are what the original server sent and its web app reads: snake_case names,
// `success` and `message`, its units (epoch seconds for file times), with a few fields of ours beside them. Every
// response name is spelled out, so the service's camelCase default for the gallery never renames them.

/// <summary>The fields of a project; <see cref="Path"/> is required when setting one.</summary>
public class ProjectFields
{
    public string? Name { get; init; }

    public string? Path { get; init; }

    public string? NamingTemplate { get; init; }

    [JsonPropertyName("naming_template")]
    public string? NamingTemplateSnake { get; init; }

    public string? OrchestratorUrl { get; init; }

    [JsonPropertyName("orchestrator_url")]
    public string? OrchestratorUrlSnake { get; init; }

    public bool? AutoSave { get; init; }

    [JsonPropertyName("auto_save")]
    public bool? AutoSaveSnake { get; init; }

    public string? Description { get; init; }
}

/// <summary><c>POST /api/project</c>: the project's fields at the top level, or inside <c>project</c> as the original sent them.</summary>
public sealed class SetProjectRequest : ProjectFields
{
    public ProjectFields? Project { get; init; }
}

public sealed record ProjectDto(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("naming_template")] string NamingTemplate,
    [property: JsonPropertyName("orchestrator_url")] string OrchestratorUrl,
    [property: JsonPropertyName("auto_save")] bool AutoSave,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("created_at")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("updated_at")] DateTimeOffset UpdatedAt);

public sealed record ProjectResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("project")] ProjectDto Project,
    [property: JsonPropertyName("message")] string Message);

public sealed class SaveProjectRequest
{
    public string? FolderPath { get; init; }

    [JsonPropertyName("folder_path")]
    public string? FolderPathSnake { get; init; }

    /// <summary>Default <c>project.json</c>; a single name ending in <c>.json</c>.</summary>
    public string? Filename { get; init; }

    /// <summary>The whole project state, stored as sent (the original's keys: <c>project_settings</c>,
    /// <c>panels</c>, <c>saved_at</c>…); <c>saved_at</c> is added when missing.</summary>
    public JsonObject? State { get; init; }
}

/// <summary><c>saved_path</c> is the file written; <c>backup_path</c> the former version kept as <c>.bak</c> (null
/// when there was none).</summary>
public sealed record SaveProjectResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("saved_path")] string SavedPath,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("backup_path")] string? BackupPath,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("saved_at")] string SavedAt);

public sealed class LoadProjectRequest
{
    public string? FilePath { get; init; }

    [JsonPropertyName("file_path")]
    public string? FilePathSnake { get; init; }
}

/// <summary><c>state</c> is the project file as saved (<c>project_settings</c>, <c>panels</c>, <c>saved_at</c>…).</summary>
public sealed record LoadProjectResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("state")] JsonObject State,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("loaded_from_backup")] bool LoadedFromBackup,
    [property: JsonPropertyName("backup_path")] string? BackupPath);

/// <summary>A project file: <c>saved_at</c> as saved (<c>"Unknown"</c> when absent), <c>panel_count</c> its panels,
/// <c>modified</c> the file's time.</summary>
public sealed record ProjectFileInfo(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("saved_at")] string SavedAt,
    [property: JsonPropertyName("panel_count")] int PanelCount,
    [property: JsonPropertyName("modified")] DateTimeOffset Modified);

/// <summary><c>folders</c>: the folders that were searched.</summary>
public sealed record ListProjectsResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("projects")] IReadOnlyList<ProjectFileInfo> Projects,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("folders")] IReadOnlyList<string> Folders);

/// <summary>The folder of a scan: <c>path</c> (API doc 3) or the original's <c>folder_path</c> / <c>project_path</c>.</summary>
public class FolderRequest
{
    public string? Path { get; init; }

    public string? FolderPath { get; init; }

    [JsonPropertyName("folder_path")]
    public string? FolderPathSnake { get; init; }

    public string? ProjectPath { get; init; }

    [JsonPropertyName("project_path")]
    public string? ProjectPathSnake { get; init; }

    [JsonIgnore]
    public string? Folder => Path ?? FolderPath ?? FolderPathSnake ?? ProjectPath ?? ProjectPathSnake;

    [JsonIgnore]
    public string FolderField =>
        Path is not null ? "path"
        : FolderPath is not null ? "folderPath"
        : FolderPathSnake is not null ? "folder_path"
        : ProjectPath is not null ? "projectPath"
        : ProjectPathSnake is not null ? "project_path"
        : "path";
}

public sealed class ScanProjectImagesRequest : FolderRequest
{
    /// <summary>Default <c>{project}_Panel{panel}_{version}</c>; a <c>/</c> matches folders too.</summary>
    public string? NamingPattern { get; init; }

    [JsonPropertyName("naming_pattern")]
    public string? NamingPatternSnake { get; init; }

    /// <summary>Accepted for the original's clients; the pattern's <c>{project}</c> matches any name.</summary>
    [JsonPropertyName("project_name")]
    public string? ProjectName { get; init; }
}

public sealed class ScanVersionsRequest : FolderRequest
{
    /// <summary>The naming template, e.g. <c>{project}_Panel{panel}_{version}</c>; default that one.</summary>
    public string? Pattern { get; init; }
}

/// <summary>A media file. <c>modified_time</c> is in seconds since 1970 (with fractions), as the original sent it;
/// <c>type</c> is <c>image</c> or <c>video</c>.</summary>
public sealed record MediaFile(
    [property: JsonPropertyName("filename")] string Filename,
    [property: JsonPropertyName("image_path")] string ImagePath,
    [property: JsonPropertyName("modified_time")] double ModifiedTime,
    [property: JsonPropertyName("relative_path")] string RelativePath,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("type")] string Type);

/// <summary>A file that matched the naming pattern: <c>panel_number</c> and <c>version</c> are the numbers in its
/// name; <c>metadata</c> its <c>.json</c> sidecar (an empty object when it has none).</summary>
public sealed record ProjectImage(
    [property: JsonPropertyName("panel_number")] int PanelNumber,
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("image_path")] string ImagePath,
    [property: JsonPropertyName("filename")] string Filename,
    [property: JsonPropertyName("metadata")] JsonObject Metadata,
    [property: JsonPropertyName("relative_path")] string RelativePath,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("modified_time")] double ModifiedTime,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("project")] string? Project);

/// <summary><c>skipped_files</c>: files whose name matched but lacks a panel or version number, with the reason.</summary>
public sealed record ScanProjectImagesResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("images")] IReadOnlyList<ProjectImage> Images,
    [property: JsonPropertyName("total")] int Total,
    [property: JsonPropertyName("skipped_files")] IReadOnlyList<string> SkippedFiles,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("pattern")] string Pattern,
    [property: JsonPropertyName("truncated")] bool Truncated);

public sealed record ScanFolderImagesResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("images")] IReadOnlyList<MediaFile> Images,
    [property: JsonPropertyName("total")] int Total,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("folder_path")] string FolderPath);

public sealed record ProjectPanel(
    [property: JsonPropertyName("panel_name")] string PanelName,
    [property: JsonPropertyName("folder_path")] string FolderPath,
    [property: JsonPropertyName("images")] IReadOnlyList<MediaFile> Images);

public sealed record ScanProjectPanelsResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("panels")] IReadOnlyList<ProjectPanel> Panels,
    [property: JsonPropertyName("total_panels")] int TotalPanels,
    [property: JsonPropertyName("total_images")] int TotalImages,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("project_path")] string ProjectPath);

/// <summary><c>panel_versions</c>: panel folder name → highest version found, three digits (<c>"007"</c>).</summary>
public sealed record ScanVersionsResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("panel_versions")] IReadOnlyDictionary<string, string> PanelVersions,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("folder_path")] string FolderPath);

public sealed class DeleteImageRequest
{
    public string? ImagePath { get; init; }

    [JsonPropertyName("image_path")]
    public string? ImagePathSnake { get; init; }

    public string? Path { get; init; }
}

public sealed record DeleteImageResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("deleted_files")] IReadOnlyList<string> DeletedFiles,
    [property: JsonPropertyName("message")] string Message);

public sealed class CreateFolderRequest
{
    public string? ParentPath { get; init; }

    [JsonPropertyName("parent_path")]
    public string? ParentPathSnake { get; init; }

    public string? FolderName { get; init; }

    [JsonPropertyName("folder_name")]
    public string? FolderNameSnake { get; init; }
}

/// <summary><c>created_path</c> (the original's name) and <c>path</c> are the same folder.</summary>
public sealed record CreateFolderResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("created_path")] string CreatedPath,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("path")] string Path);

/// <summary>A folder or file of a listing; <c>type</c> is <c>drive</c> (an allowed root, where the original listed
/// drives and mounts), <c>folder</c> or <c>file</c>.</summary>
public sealed record BrowseEntry(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("size")] long? Size,
    [property: JsonPropertyName("modified")] DateTimeOffset? Modified);

/// <summary><c>current</c> is the folder listed (<c>""</c> for the list of roots, as the original sent it; <c>path</c>
/// is null there); <c>parent</c> is null at a root.</summary>
public sealed record BrowseFoldersResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("current")] string Current,
    [property: JsonPropertyName("parent")] string? Parent,
    [property: JsonPropertyName("items")] IReadOnlyList<BrowseEntry> Items,
    [property: JsonPropertyName("path")] string? Path,
    [property: JsonPropertyName("truncated")] bool Truncated);

/// <summary><c>prompt</c> and <c>workflow</c> are the chunks' JSON objects (null when absent or not a JSON object, as
/// the original sent them); <c>text</c> holds every text chunk as written.</summary>
public sealed record PngMetadataResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("prompt")] JsonObject? Prompt,
    [property: JsonPropertyName("workflow")] JsonObject? Workflow,
    [property: JsonPropertyName("parameters")] string? Parameters,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("text")] IReadOnlyDictionary<string, string> Text);

public class SaveImageTarget
{
    public string? FolderPath { get; init; }

    [JsonPropertyName("folder_path")]
    public string? FolderPathSnake { get; init; }

    /// <summary>The file name; may hold subfolders (<c>Panel_01/shot.png</c>), each name checked.</summary>
    public string? Filename { get; init; }

    /// <summary>Replace an existing file; default false (409 when the file exists).</summary>
    public bool? Overwrite { get; init; }

    /// <summary>Accepted for the original's clients and ignored, as there.</summary>
    public JsonNode? Metadata { get; init; }
}

public sealed class SaveImageRequest : SaveImageTarget
{
    /// <summary>A backend's <c>/view</c> URL (<c>http://host:port/view?filename=…</c>), a
    /// <c>/api/backends/{id}/view?…</c> URL, or a <c>data:image/…;base64,</c> URL.</summary>
    public string? ImageUrl { get; init; }

    [JsonPropertyName("image_url")]
    public string? ImageUrlSnake { get; init; }
}

public sealed class SaveBase64ImageRequest : SaveImageTarget
{
    public string? DataUrl { get; init; }

    [JsonPropertyName("data_url")]
    public string? DataUrlSnake { get; init; }
}

/// <summary><c>saved_path</c> (and <c>path</c>) is the file written; <c>metadata_path</c> is always null: no sidecar is
/// written, the PNG holds its workflow.</summary>
public sealed record SaveImageResponse(
    [property: JsonPropertyName("success")] bool Success,
    [property: JsonPropertyName("saved_path")] string SavedPath,
    [property: JsonPropertyName("metadata_path")] string? MetadataPath,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("filename")] string Filename,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("overwritten")] bool Overwritten);
