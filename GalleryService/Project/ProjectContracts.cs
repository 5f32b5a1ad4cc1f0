using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace DirectorsConsole.GalleryService.Project;

// Requests take API doc 3's camelCase names and also the snake_case names of the original (the original server);
// when a request holds both, the camelCase one wins. Responses are camelCase only.

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
    string Name,
    string Path,
    string NamingTemplate,
    string OrchestratorUrl,
    bool AutoSave,
    string? Description,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

public sealed record ProjectResponse(ProjectDto Project);

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

public sealed record SaveProjectResponse(string Path, string? BackupPath, long Size, string SavedAt);

public sealed class LoadProjectRequest
{
    public string? FilePath { get; init; }

    [JsonPropertyName("file_path")]
    public string? FilePathSnake { get; init; }
}

public sealed record LoadProjectResponse(string Path, JsonObject State, bool LoadedFromBackup, string? BackupPath, string Message);

public sealed record ProjectFileInfo(string Path, string Name, string? SavedAt, int PanelCount, DateTimeOffset Modified);

public sealed record ListProjectsResponse(IReadOnlyList<ProjectFileInfo> Projects, IReadOnlyList<string> Folders);

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

/// <summary>A media file. <c>type</c> is <c>image</c> or <c>video</c>.</summary>
public sealed record MediaFile(string Filename, string ImagePath, string RelativePath, long Size, DateTimeOffset ModifiedTime, string Type);

public sealed record ProjectImage(
    string Filename, string ImagePath, string RelativePath, long Size, DateTimeOffset ModifiedTime, string Type,
    int? Panel, int? Version, string? Project);

public sealed record ScanProjectImagesResponse(IReadOnlyList<ProjectImage> Images, int Total, string Pattern, bool Truncated);

public sealed record ScanFolderImagesResponse(string FolderPath, IReadOnlyList<MediaFile> Images, int Total);

public sealed record ProjectPanel(string PanelName, string FolderPath, IReadOnlyList<MediaFile> Images);

public sealed record ScanProjectPanelsResponse(string ProjectPath, IReadOnlyList<ProjectPanel> Panels, int TotalPanels, int TotalImages);

/// <summary><c>panelVersions</c>: panel folder name → highest version found, three digits (<c>"007"</c>).</summary>
public sealed record ScanVersionsResponse(string FolderPath, IReadOnlyDictionary<string, string> PanelVersions);

public sealed class DeleteImageRequest
{
    public string? ImagePath { get; init; }

    [JsonPropertyName("image_path")]
    public string? ImagePathSnake { get; init; }

    public string? Path { get; init; }
}

public sealed record DeleteImageResponse(IReadOnlyList<string> DeletedFiles);

public sealed class CreateFolderRequest
{
    public string? ParentPath { get; init; }

    [JsonPropertyName("parent_path")]
    public string? ParentPathSnake { get; init; }

    public string? FolderName { get; init; }

    [JsonPropertyName("folder_name")]
    public string? FolderNameSnake { get; init; }
}

public sealed record CreateFolderResponse(string Path);

/// <summary>A folder or file of a listing; <c>type</c> is <c>root</c>, <c>folder</c> or <c>file</c>.</summary>
public sealed record BrowseEntry(string Name, string Path, string Type, long? Size, DateTimeOffset? Modified);

/// <summary><c>path</c> and <c>parent</c> are null for the list of roots; <c>parent</c> is null at a root.</summary>
public sealed record BrowseFoldersResponse(string? Path, string? Parent, IReadOnlyList<BrowseEntry> Items, bool Truncated);

/// <summary><c>prompt</c> and <c>workflow</c> are JSON when the chunk holds valid JSON, else the raw text.</summary>
public sealed record PngMetadataResponse(string Path, JsonNode? Prompt, JsonNode? Workflow, string? Parameters, IReadOnlyDictionary<string, string> Text);

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

public sealed record SaveImageResponse(string Path, string Filename, long Size, bool Overwritten);
