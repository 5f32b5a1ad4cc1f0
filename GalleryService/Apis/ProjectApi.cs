using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DirectorsConsole.GalleryService.Paths;
using DirectorsConsole.GalleryService.Project;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using GalleryOptions = DirectorsConsole.GalleryService.Gallery.GalleryOptions;

namespace DirectorsConsole.GalleryService.Apis;

/// <summary>
/// The project and file endpoints of API doc 3 "Project Management". Every path passes
/// <see cref="IProjectPathResolver"/> (403 outside the allowed roots, 422 when not a path) and responses carry
/// this machine's paths, or the client's with <c>?os=</c> / <c>X-Client-OS</c>. Replies have the original server's
/// names and units (<c>success</c>, <c>message</c>, <c>saved_path</c>…), which the original web app reads. Unlike the
/// original, failures are real HTTP statuses with a <c>detail</c>, never 200; their bodies also carry
/// <c>success: false</c> and a <c>message</c>, because that app shows <c>message</c> even for a failed request.
/// </summary>
public static class ProjectApi
{
    public const string DefaultProjectFile = "project.json";
    public const string DefaultNamingTemplate = NamingPattern.Default;
    public const string DefaultOrchestratorUrl = "http://localhost:9820";

    /// <summary>Project files larger than this are not read (a project.json is a few megabytes at most).</summary>
    public const long MaxProjectFileBytes = 64L * 1024 * 1024;

    private static readonly TimeSpan BrowseTimeout = TimeSpan.FromSeconds(10);

    private static readonly JsonSerializerOptions ProjectFileJson = new() { WriteIndented = true };

    public static RouteGroupBuilder MapProjectApi(this IEndpointRouteBuilder app)
    {
        // 422 is an unusable path, name or field, in FastAPI's list form (the document holds one schema per status).
        var api = app.MapGroup("/api").WithTags("Project Management")
            .WithSuccessFlagErrors()
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .WithMetadata(new ProducesResponseTypeMetadata(StatusCodes.Status422UnprocessableEntity, typeof(ValidationErrorResponse), ["application/json"]));

        api.MapGet("/project", GetProjectAsync)
            .WithName("GetProject")
            .WithSummary("Get the current project, shared by every client and replica");
        api.MapPost("/project", SetProjectAsync)
            .WithName("SetProject")
            .WithSummary("Set the current project; its folder must exist inside the configured project roots")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/save-project", SaveProjectAsync)
            .WithName("SaveProject")
            .ProducesProblem(StatusCodes.Status507InsufficientStorage)
            .WithSummary("Write a project file atomically, keeping the previous version as .bak; a missing folder inside the roots is created")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        api.MapPost("/load-project", LoadProjectAsync)
            .WithName("LoadProject")
            .WithSummary("Read a project file, falling back to its .bak when it is missing or corrupt")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/list-projects", ListProjectsAsync)
            .WithName("ListProjects")
            .WithSummary("List project files (project*.json, *_project.json) in a folder, or in the roots and their folders")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/scan-project-images", ScanProjectImagesAsync)
            .WithName("ScanProjectImages")
            .WithSummary("Find the images and videos of a project folder that match its naming pattern, by panel and version")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/scan-project-panels", ScanProjectPanelsAsync)
            .WithName("ScanProjectPanels")
            .WithSummary("List every panel folder of a project with its images and videos, oldest first")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/scan-folder-images", ScanFolderImagesAsync)
            .WithName("ScanFolderImages")
            .WithSummary("List the images and videos directly in a folder, newest first")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/scan-versions", ScanVersionsFromQueryAsync)
            .WithName("ScanVersionsGet")
            .WithSummary("Find the highest version of each panel folder for a naming template")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/scan-versions", ScanVersionsAsync)
            .WithName("ScanVersions")
            .WithSummary("Find the highest version of each panel folder for a naming template (body form)")
            .ProducesProblem(StatusCodes.Status404NotFound);
        // HEAD too: the web app's viewer asks for the size (Content-Length) that way before it downloads.
        api.MapMethods("/serve-image", [HttpMethods.Get, HttpMethods.Head], ServeImageAsync)
            .WithName("ServeImage")
            .WithSummary("Send an image or video (HEAD: its headers only), with range requests (video seeking), ETag and Last-Modified")
            .Produces(StatusCodes.Status206PartialContent)
            .Produces(StatusCodes.Status304NotModified)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        api.MapDelete("/delete-image", DeleteImageAsync)
            .WithName("DeleteImage")
            .WithSummary("Delete an image or video and its .json sidecar")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/create-folder", CreateFolderAsync)
            .WithName("CreateFolder")
            .ProducesProblem(StatusCodes.Status507InsufficientStorage)
            .WithSummary("Create one folder inside an existing folder")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        api.MapGet("/browse-folders", BrowseFoldersAsync)
            .WithName("BrowseFolders")
            .WithSummary("List the allowed roots, or a folder's non-hidden folders and chosen files")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status504GatewayTimeout);
        api.MapGet("/png-metadata", GetPngMetadataAsync)
            .WithName("GetPngMetadata")
            .WithSummary("Read the ComfyUI prompt, workflow and A1111 parameters from a PNG's text chunks")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/save-image", SaveImageAsync)
            .WithName("SaveImage")
            .ProducesProblem(StatusCodes.Status507InsufficientStorage)
            .WithSummary("Save a render output from a registered backend's /view URL (or a data: URL) into the project; missing folders inside the roots are created")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status502BadGateway);
        api.MapPost("/save-base64-image", SaveBase64ImageAsync)
            .WithName("SaveBase64Image")
            .ProducesProblem(StatusCodes.Status507InsufficientStorage)
            .WithSummary("Save an image sent as a base64 data: URL into the project; missing folders inside the roots are created")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return api;
    }

    public static async Task<Ok<ProjectResponse>> GetProjectAsync(
        CurrentProjectStore store, IResponsePathFormatter paths, CancellationToken cancellationToken) =>
        await store.GetAsync(cancellationToken) is { } project
            ? TypedResults.Ok(new ProjectResponse(true, ToDto(project, paths), "Project found"))
            : throw ApiProblemException.NotFound("No project set; choose one with POST /api/project.");

    public static async Task<Ok<ProjectResponse>> SetProjectAsync(
        SetProjectRequest request, ProjectPathResolver resolver, CurrentProjectStore store, IResponsePathFormatter paths,
        TimeProvider time, CancellationToken cancellationToken)
    {
        var fields = request.Project ?? request;
        var field = request.Project is null ? "path" : "project.path";
        if (string.IsNullOrEmpty(fields.Path))
        {
            throw new InvalidClientPathException(field, $"'{field}' is required: the project's folder.");
        }

        // Only the configured roots: a current project inside itself would let a client widen its own confinement.
        var folder = await resolver.ResolveAbsoluteAsync(fields.Path, field, resolver.ConfiguredRoots(), cancellationToken);
        RequireFolder(folder, field);
        var prefix = request.Project is null ? "" : "project.";
        var name = fields.Name is { Length: > 0 } given ? ClientNames.Validate(given, prefix + "name") : Path.GetFileName(folder.FullPath);
        var orchestratorUrl = fields.OrchestratorUrl ?? fields.OrchestratorUrlSnake ?? DefaultOrchestratorUrl;
        if (orchestratorUrl.Length > 2048 || !Uri.TryCreate(orchestratorUrl, UriKind.Absolute, out _))
        {
            var urlField = prefix + (fields.OrchestratorUrl is null ? "orchestrator_url" : "orchestratorUrl");
            throw new InvalidClientPathException(urlField, $"'{urlField}' must be an absolute URL.", input: orchestratorUrl);
        }

        var now = time.GetUtcNow();
        var previous = await store.GetAsync(cancellationToken);
        var project = new CurrentProject(
            string.IsNullOrEmpty(name) ? folder.FullPath : name,
            folder.FullPath,
            fields.NamingTemplate ?? fields.NamingTemplateSnake ?? previous?.NamingTemplate ?? DefaultNamingTemplate,
            orchestratorUrl,
            fields.AutoSave ?? fields.AutoSaveSnake ?? true,
            fields.Description,
            previous is not null && string.Equals(previous.Path, folder.FullPath, ProjectPathResolver.PathComparison) ? previous.CreatedAt : now,
            now);
        await store.SetAsync(project, cancellationToken);
        resolver.RememberCurrentProject(project);
        return TypedResults.Ok(new ProjectResponse(true, ToDto(project, paths), $"Project '{project.Name}' set successfully"));
    }

    public static async Task<Ok<SaveProjectResponse>> SaveProjectAsync(
        SaveProjectRequest request, IProjectPathResolver resolver, IResponsePathFormatter paths, TimeProvider time, CancellationToken cancellationToken)
    {
        var (folderText, folderField) = Pick(request.FolderPath, "folderPath", request.FolderPathSnake, "folder_path");
        var filename = ClientNames.Validate(request.Filename ?? DefaultProjectFile, "filename");
        if (!filename.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidClientPathException("filename", "'filename' must end in .json.", input: filename);
        }

        if (request.State is not { } state)
        {
            throw new InvalidClientPathException("state", "'state' is required: the project state as a JSON object.");
        }

        var folder = await resolver.ResolveAsync(folderText, folderField, cancellationToken);
        EnsureFolder(folder, folderField);
        var file = await resolver.ResolveWithinAsync(folder, filename, "filename", cancellationToken);
        var backup = await resolver.ResolveWithinAsync(folder, filename + ".bak", "filename", cancellationToken);
        if (Directory.Exists(file.FullPath) || Directory.Exists(backup.FullPath))
        {
            throw ApiProblemException.Conflict($"{filename} (or its .bak) is a folder in {folder.FullPath}; choose another file name.");
        }

        var savedAt = state["saved_at"]?.ToString() is { Length: > 0 } given ? given : DirectorsConsole.ServiceDefaults.Hosting.ApiJson.FormatUtc(time.GetUtcNow());
        state["saved_at"] = savedAt;
        var content = JsonSerializer.SerializeToUtf8Bytes(state, ProjectFileJson);
        if (content.Length > MaxProjectFileBytes)
        {
            throw new ApiProblemException(StatusCodes.Status413PayloadTooLarge, "Too large", $"The project state is larger than {MaxProjectFileBytes} bytes.");
        }

        var backedUp = await AtomicFile.WriteWithBackupAsync(file, content, Path.GetFileName(backup.FullPath), folderField, cancellationToken);
        return TypedResults.Ok(new SaveProjectResponse(
            true, paths.Format(file.FullPath), "Project saved successfully", backedUp ? paths.Format(backup.FullPath) : null, content.Length, savedAt));
    }

    public static async Task<Ok<LoadProjectResponse>> LoadProjectAsync(
        LoadProjectRequest request, IProjectPathResolver resolver, IResponsePathFormatter paths, CancellationToken cancellationToken)
    {
        var (fileText, field) = Pick(request.FilePath, "filePath", request.FilePathSnake, "file_path");
        var file = await resolver.ResolveAsync(fileText, field, cancellationToken);
        if (!file.FullPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidClientPathException(field, $"'{field}' must name a .json project file.", input: fileText);
        }

        var folder = await resolver.ResolveAsync(Path.GetDirectoryName(file.FullPath), field, cancellationToken);
        var backup = await resolver.ResolveWithinAsync(folder, Path.GetFileName(file.FullPath) + ".bak", field, cancellationToken);
        var (state, problem) = await ReadProjectFileAsync(() => ConfinedFile.OpenRead(file, field, 81920), cancellationToken);
        if (state is not null)
        {
            return TypedResults.Ok(new LoadProjectResponse(true, state, "Project loaded successfully", paths.Format(file.FullPath), false, null));
        }

        var (backupState, backupProblem) = await ReadProjectFileAsync(() => ConfinedFile.OpenRead(backup, field, 81920), cancellationToken);
        if (backupState is not null)
        {
            return TypedResults.Ok(new LoadProjectResponse(
                true, backupState, $"Project loaded from backup: {Path.GetFileName(file.FullPath)} {problem}; {Path.GetFileName(backup.FullPath)} was loaded instead.",
                paths.Format(file.FullPath), true, paths.Format(backup.FullPath)));
        }

        if (!File.Exists(file.FullPath) && !File.Exists(backup.FullPath))
        {
            throw ApiProblemException.NotFound($"Project file not found: {paths.Format(file.FullPath)} (and no .bak).");
        }

        throw new ApiProblemException(StatusCodes.Status422UnprocessableEntity, "Project file unreadable",
            $"{Path.GetFileName(file.FullPath)} {problem}, and the backup {backupProblem}.");
    }

    public static async Task<Ok<ListProjectsResponse>> ListProjectsAsync(
        IProjectPathResolver resolver, IResponsePathFormatter paths, CancellationToken cancellationToken,
        [FromQuery] string? folderPath = null, [FromQuery(Name = "folder_path")] string? folderPathSnake = null)
    {
        var roots = await resolver.AllowedRootsAsync(cancellationToken);
        List<string> folders;
        if (folderPath is not null || folderPathSnake is not null)
        {
            var (text, field) = Pick(folderPath, "folderPath", folderPathSnake, "folder_path");
            var folder = await resolver.ResolveAsync(text, field, cancellationToken);
            if (!Directory.Exists(folder.FullPath))
            {
                // As the original: a folder not made yet holds no projects (it is still checked to lie inside the roots).
                return TypedResults.Ok(new ListProjectsResponse(true, [], "Folder does not exist", [paths.Format(folder.FullPath)]));
            }

            folders = [folder.FullPath];
        }
        else
        {
            folders = roots.Where(Directory.Exists)
                .SelectMany(root => ProjectFileWalker.List(root, roots, cancellationToken).Where(e => e.IsDirectory).Select(e => e.Path).Prepend(root))
                .Distinct(ProjectPathResolver.PathComparer)
                .ToList();
        }

        var projects = new List<ProjectFileInfo>();
        foreach (var folder in folders)
        {
            foreach (var entry in ProjectFileWalker.List(folder, roots, cancellationToken).Where(e => !e.IsDirectory && IsProjectFileName(Path.GetFileName(e.Path))))
            {
                // A listed file may be a link that stayed inside the roots; it is read only if it still does.
                JsonObject? state;
                try
                {
                    (state, _) = await ReadProjectFileAsync(() => ConfinedFile.OpenFoundFile(entry.Path, RootOf(entry.Path, roots), 81920), cancellationToken);
                }
                catch (Exception ex) when (ex is PathNotAllowedException or ApiProblemException)
                {
                    continue;
                }

                var name = state?["project_settings"]?["name"]?.ToString() is { Length: > 0 } projectName ? projectName : Path.GetFileNameWithoutExtension(entry.Path);
                var panels = state?["panels"] switch
                {
                    JsonArray array => array.Count,
                    JsonObject map => map.Count,
                    _ => 0,
                };
                var savedAt = state?["saved_at"]?.ToString() is { Length: > 0 } saved ? saved : "Unknown";
                projects.Add(new ProjectFileInfo(paths.Format(entry.Path), name, savedAt, panels, entry.Modified));
            }
        }

        return TypedResults.Ok(new ListProjectsResponse(
            true, projects.OrderByDescending(p => p.Modified).ToList(), $"Found {projects.Count} project(s)", folders.Select(paths.Format).ToList()));
    }

    public static async Task<Ok<ScanProjectImagesResponse>> ScanProjectImagesAsync(
        ScanProjectImagesRequest request, IProjectPathResolver resolver, IResponsePathFormatter paths, IOptions<GalleryOptions> options, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var pattern = request.NamingPattern ?? request.NamingPatternSnake ?? DefaultNamingTemplate;
        var patternField = request.NamingPattern is null && request.NamingPatternSnake is not null ? "naming_pattern" : "namingPattern";
        if (pattern.Length is 0 or > 1024)
        {
            throw new InvalidClientPathException(patternField, $"'{patternField}' must hold 1 to 1024 characters.", input: pattern);
        }

        var folder = await resolver.ResolveAsync(request.Folder, request.FolderField, cancellationToken);
        RequireFolder(folder, request.FolderField);
        var budget = PatternBudget.Start(time, options.Value.PatternBudget, patternField, InvalidClientPathException.Body, pattern);
        var regex = NamingPattern.ForScan(pattern.Replace('\\', '/'), budget.Budget);
        var byPath = pattern.Contains('/') || pattern.Contains('\\');
        var (files, truncated) = ProjectFileWalker.Walk(folder.FullPath, await resolver.AllowedRootsAsync(cancellationToken), cancellationToken);
        var sidecars = files.Where(f => f.Path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)).Select(f => f.Path).ToHashSet(ProjectPathResolver.PathComparer);
        var images = new List<ProjectImage>();
        var skipped = new List<string>();
        foreach (var file in files.Where(f => MediaTypes.IsMedia(f.Path)))
        {
            var key = byPath ? file.RelativePath[..^Path.GetExtension(file.RelativePath).Length] : Path.GetFileNameWithoutExtension(file.Path);
            var match = budget.Match(regex, key);
            if (!match.Success)
            {
                continue;
            }

            // The web app groups by both numbers; a pattern without {panel} or {version} cannot give them.
            if (Number(match, "panel") is not { } panel || Number(match, "version") is not { } version)
            {
                skipped.Add($"{file.RelativePath} (the naming pattern gives it no panel or version number)");
                continue;
            }

            var sidecar = Path.ChangeExtension(file.Path, ".json");
            images.Add(new ProjectImage(
                panel, version, paths.Format(file.Path), Path.GetFileName(file.Path),
                sidecars.Contains(sidecar) ? await ReadSidecarAsync(sidecar, folder.FullPath, cancellationToken) : [],
                file.RelativePath, file.Size, EpochSeconds(file.Modified), MediaTypes.KindOf(file.Path)!,
                match.Groups["project"] is { Success: true } project ? project.Value : null));
        }

        images.Sort((a, b) => a.PanelNumber.CompareTo(b.PanelNumber) is var byPanel and not 0 ? byPanel
            : a.Version.CompareTo(b.Version) is var byVersion and not 0 ? byVersion
            : string.Compare(a.RelativePath, b.RelativePath, StringComparison.OrdinalIgnoreCase));
        return TypedResults.Ok(new ScanProjectImagesResponse(true, images, images.Count, skipped, $"Found {images.Count} images", pattern, truncated));
    }

    public static async Task<Ok<ScanProjectPanelsResponse>> ScanProjectPanelsAsync(
        FolderRequest request, IProjectPathResolver resolver, IResponsePathFormatter paths, CancellationToken cancellationToken)
    {
        var project = await resolver.ResolveAsync(request.Folder, request.FolderField, cancellationToken);
        RequireFolder(project, request.FolderField);
        var roots = await resolver.AllowedRootsAsync(cancellationToken);
        var panels = ProjectFileWalker.List(project.FullPath, roots, cancellationToken)
            .Where(entry => entry.IsDirectory)
            .Select(panel => new ProjectPanel(
                Path.GetFileName(panel.Path),
                paths.Format(panel.Path),
                MediaIn(panel.Path, roots, paths, cancellationToken).OrderBy(image => image.ModifiedTime).ToList()))
            .ToList();
        var total = panels.Sum(p => p.Images.Count);
        return TypedResults.Ok(new ScanProjectPanelsResponse(
            true, panels, panels.Count, total, $"Found {panels.Count} panels with {total} total images", paths.Format(project.FullPath)));
    }

    public static async Task<Ok<ScanFolderImagesResponse>> ScanFolderImagesAsync(
        FolderRequest request, IProjectPathResolver resolver, IResponsePathFormatter paths, CancellationToken cancellationToken)
    {
        var folder = await resolver.ResolveAsync(request.Folder, request.FolderField, cancellationToken);
        RequireFolder(folder, request.FolderField);
        var images = MediaIn(folder.FullPath, await resolver.AllowedRootsAsync(cancellationToken), paths, cancellationToken)
            .OrderByDescending(image => image.ModifiedTime).ToList();
        return TypedResults.Ok(new ScanFolderImagesResponse(true, images, images.Count, $"Found {images.Count} images", paths.Format(folder.FullPath)));
    }

    public static Task<Ok<ScanVersionsResponse>> ScanVersionsFromQueryAsync(
        IProjectPathResolver resolver, CurrentProjectStore store, IResponsePathFormatter paths, IOptions<GalleryOptions> options, TimeProvider time,
        CancellationToken cancellationToken,
        [FromQuery] string? folderPath = null, [FromQuery(Name = "folder_path")] string? folderPathSnake = null,
        [FromQuery] string? path = null, [FromQuery] string? pattern = null) =>
        ScanVersionsCoreAsync(new ScanVersionsRequest { FolderPath = folderPath, FolderPathSnake = folderPathSnake, Path = path, Pattern = pattern },
            InvalidClientPathException.Query, resolver, store, paths, options, time, cancellationToken);

    public static Task<Ok<ScanVersionsResponse>> ScanVersionsAsync(
        ScanVersionsRequest request, IProjectPathResolver resolver, CurrentProjectStore store, IResponsePathFormatter paths,
        IOptions<GalleryOptions> options, TimeProvider time, CancellationToken cancellationToken) =>
        ScanVersionsCoreAsync(request, InvalidClientPathException.Body, resolver, store, paths, options, time, cancellationToken);

    // location: where the fields came from (the query for GET, the body for POST), for the 422's loc.
    private static async Task<Ok<ScanVersionsResponse>> ScanVersionsCoreAsync(
        ScanVersionsRequest request, string location, IProjectPathResolver resolver, CurrentProjectStore store, IResponsePathFormatter paths,
        IOptions<GalleryOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var pattern = request.Pattern ?? DefaultNamingTemplate;
        if (pattern.Length is 0 or > 1024)
        {
            throw new InvalidClientPathException("pattern", "'pattern' must hold 1 to 1024 characters.", location, pattern);
        }

        var folder = await resolver.ResolveAsync(request.Folder, request.FolderField, cancellationToken);
        if (!Directory.Exists(folder.FullPath))
        {
            // As the original: nothing saved there yet, so every panel starts at v001 (the folder is still confined).
            return TypedResults.Ok(new ScanVersionsResponse(
                true, new Dictionary<string, string>(), "Folder does not exist yet, starting from v001", paths.Format(folder.FullPath)));
        }

        var projectName = (await store.GetAsync(cancellationToken))?.Name;
        var roots = await resolver.AllowedRootsAsync(cancellationToken);
        var versions = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var budget = PatternBudget.Start(time, options.Value.PatternBudget, "pattern", location, pattern);
        foreach (var panel in ProjectFileWalker.List(folder.FullPath, roots, cancellationToken).Where(e => e.IsDirectory))
        {
            var panelName = Path.GetFileName(panel.Path);
            var regex = NamingPattern.ForVersions(pattern, panelName, projectName, budget.Budget);
            var highest = -1;
            foreach (var file in ProjectFileWalker.List(panel.Path, roots, cancellationToken).Where(e => !e.IsDirectory && MediaTypes.IsMedia(e.Path)))
            {
                if (budget.Match(regex, Path.GetFileNameWithoutExtension(file.Path)) is { Success: true } match && Number(match, "version") is { } version)
                {
                    highest = Math.Max(highest, version);
                }
            }

            if (highest >= 0)
            {
                versions[panelName] = highest.ToString("D3", System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return TypedResults.Ok(new ScanVersionsResponse(
            true, versions, $"Found {versions.Count} panels with existing versions", paths.Format(folder.FullPath)));
    }

    public static async Task<FileStreamHttpResult> ServeImageAsync(
        string? path, IProjectPathResolver resolver, HttpContext httpContext, CancellationToken cancellationToken)
    {
        var file = await resolver.ResolveAsync(path, "path", cancellationToken);
        var contentType = MediaTypes.ContentTypeOf(file.FullPath)
            ?? throw new ApiProblemException(StatusCodes.Status415UnsupportedMediaType, "Not an image or video",
                $"serve-image sends images and videos only ({string.Join(", ", MediaTypes.Extensions)}), not '{Path.GetExtension(file.FullPath)}' files.");
        FileStream stream;
        try
        {
            stream = ConfinedFile.OpenRead(file, "path", 64 * 1024, FileOptions.SequentialScan);
        }
        catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status404NotFound)
        {
            throw ApiProblemException.NotFound($"File not found: {path}");
        }

        // The headers describe the opened file; the result streams it (ranges included) and disposes of it.
        var facts = ConfinedFile.StatOf(stream);
        httpContext.Response.Headers.CacheControl = "private, max-age=3600";
        var lastModified = new DateTimeOffset(facts.LastWriteUtc, TimeSpan.Zero);
        var entityTag = new EntityTagHeaderValue($"\"{facts.Length:x}-{facts.LastWriteUtc.Ticks:x}\"");
        return TypedResults.File(stream, contentType, lastModified: lastModified, entityTag: entityTag, enableRangeProcessing: true);
    }

    public static async Task<Ok<DeleteImageResponse>> DeleteImageAsync(
        [FromBody(EmptyBodyBehavior = Microsoft.AspNetCore.Mvc.ModelBinding.EmptyBodyBehavior.Allow)] DeleteImageRequest? request,
        IProjectPathResolver resolver, IResponsePathFormatter paths, CancellationToken cancellationToken, [FromQuery(Name = "path")] string? queryPath = null)
    {
        var (text, field) = request?.ImagePath is not null ? (request.ImagePath, "imagePath")
            : request?.ImagePathSnake is not null ? (request.ImagePathSnake, "image_path")
            : request?.Path is not null ? (request.Path, "path")
            : queryPath is not null ? (queryPath, "path")
            : (null, "imagePath");
        var file = await resolver.ResolveAsync(text, field, cancellationToken);
        if (!File.Exists(file.FullPath))
        {
            throw ApiProblemException.NotFound($"File not found: {text}");
        }

        if (!MediaTypes.IsMedia(file.FullPath))
        {
            throw new ApiProblemException(StatusCodes.Status422UnprocessableEntity, "Not an image or video",
                $"delete-image deletes images and videos only, not '{Path.GetExtension(file.FullPath)}' files.");
        }

        var deleted = new List<string>();
        // Deleted by name inside the verified folder: a folder swapped for a link meanwhile cannot redirect it.
        using var folder = ConfinedFolder.Open(Path.GetDirectoryName(file.FullPath)!, file.Root, field);
        folder.Delete(Path.GetFileName(file.FullPath));
        deleted.Add(paths.Format(file.FullPath));
        try
        {
            var sidecar = await resolver.ResolveAsync(Path.ChangeExtension(file.FullPath, ".json"), field, cancellationToken);
            if (File.Exists(sidecar.FullPath) && folder.TryDelete(Path.GetFileName(sidecar.FullPath)))
            {
                deleted.Add(paths.Format(sidecar.FullPath));
            }
        }
        catch (PathNotAllowedException)
        {
            // A sidecar that is a link out of the roots is not ours to delete.
        }

        return TypedResults.Ok(new DeleteImageResponse(true, deleted, $"Deleted {deleted.Count} file(s)"));
    }

    public static async Task<Created<CreateFolderResponse>> CreateFolderAsync(
        CreateFolderRequest request, IProjectPathResolver resolver, IResponsePathFormatter paths, CancellationToken cancellationToken)
    {
        var (parentText, parentField) = Pick(request.ParentPath, "parentPath", request.ParentPathSnake, "parent_path");
        var (nameText, nameField) = Pick(request.FolderName, "folderName", request.FolderNameSnake, "folder_name");
        var name = ClientNames.Validate(nameText, nameField);
        var parent = await resolver.ResolveAsync(parentText, parentField, cancellationToken);
        RequireFolder(parent, parentField);
        var folder = await resolver.ResolveWithinAsync(parent, name, nameField, cancellationToken);
        if (Directory.Exists(folder.FullPath) || File.Exists(folder.FullPath))
        {
            throw ApiProblemException.Conflict($"'{name}' already exists in {paths.Format(parent.FullPath)}.");
        }

        using (var parentFolder = ConfinedFolder.Open(parent, parentField))
        using (parentFolder.Subfolder(name, create: true, out var made))
        {
            if (!made)
            {
                throw ApiProblemException.Conflict($"'{name}' already exists in {paths.Format(parent.FullPath)}.");
            }
        }

        var shown = paths.Format(folder.FullPath);
        return TypedResults.Created($"/api/browse-folders?path={Uri.EscapeDataString(shown)}", new CreateFolderResponse(true, shown, $"Created folder: {shown}", shown));
    }

    public static async Task<Ok<BrowseFoldersResponse>> BrowseFoldersAsync(
        IProjectPathResolver resolver, IResponsePathFormatter paths, CancellationToken cancellationToken,
        [FromQuery] string? path = null, [FromQuery] string? showFiles = null, [FromQuery(Name = "show_files")] string? showFilesSnake = null)
    {
        var roots = await resolver.AllowedRootsAsync(cancellationToken);
        if (string.IsNullOrEmpty(path))
        {
            // The current project counts as a root only when it lies outside the configured ones; inside one, it is
            // reached from there and listing it again would show the same folder twice.
            var rootItems = roots.Where(Directory.Exists)
                .Where(root => !roots.Any(other => !ProjectPathResolver.PathComparer.Equals(root, other) && ProjectPathResolver.IsInside(root, other)))
                .Select(root => new BrowseEntry(Path.GetFileName(root) is { Length: > 0 } name ? name : root, paths.Format(root), "drive", null, null))
                .ToList();
            return TypedResults.Ok(new BrowseFoldersResponse(true, "", null, rootItems, null, false));
        }

        var extensions = (showFiles ?? showFilesSnake ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(extension => extension.StartsWith('.') ? extension : "." + extension)
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        var folder = await resolver.ResolveAsync(path, "path", cancellationToken);
        RequireFolder(folder, "path");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(BrowseTimeout);
        IReadOnlyList<WalkEntry> entries;
        const int MaxItems = 10_000;
        try
        {
            entries = ProjectFileWalker.List(folder.FullPath, roots, timeout.Token, MaxItems + 1);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ApiProblemException(StatusCodes.Status504GatewayTimeout, "Listing timed out",
                $"Directory listing timed out after {BrowseTimeout.TotalSeconds:0} s; the share may be slow or offline.");
        }

        var items = entries.Where(e => e.IsDirectory)
            .Select(e => new BrowseEntry(Path.GetFileName(e.Path), paths.Format(e.Path), "folder", null, e.Modified))
            .Concat(entries.Where(e => !e.IsDirectory && extensions.Contains(Path.GetExtension(e.Path)))
                .Select(e => new BrowseEntry(Path.GetFileName(e.Path), paths.Format(e.Path), "file", e.Size, e.Modified)))
            .Take(MaxItems)
            .ToList();
        var parentPath = Path.GetDirectoryName(folder.FullPath);
        var parent = parentPath is not null && roots.Any(root => ProjectPathResolver.IsInside(parentPath, root)) ? paths.Format(parentPath) : null;
        var current = paths.Format(folder.FullPath);
        return TypedResults.Ok(new BrowseFoldersResponse(true, current, parent, items, current, entries.Count > MaxItems));
    }

    public static async Task<Ok<PngMetadataResponse>> GetPngMetadataAsync(
        string? path, IProjectPathResolver resolver, IResponsePathFormatter paths, CancellationToken cancellationToken)
    {
        var file = await resolver.ResolveAsync(path, "path", cancellationToken);
        IReadOnlyDictionary<string, string> text;
        try
        {
            using var stream = ConfinedFile.OpenRead(file, "path", 16 * 1024);
            text = PngMetadataReader.Read(stream);
        }
        catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status404NotFound)
        {
            throw ApiProblemException.NotFound($"File not found: {path}");
        }
        catch (InvalidDataException ex)
        {
            throw new ApiProblemException(StatusCodes.Status422UnprocessableEntity, "Not a readable PNG", $"{Path.GetFileName(file.FullPath)}: {ex.Message}");
        }

        return TypedResults.Ok(new PngMetadataResponse(
            true, JsonObjectOf(text, "prompt"), JsonObjectOf(text, "workflow"), text.GetValueOrDefault("parameters"), paths.Format(file.FullPath), text));
    }

    public static async Task<Created<SaveImageResponse>> SaveImageAsync(
        SaveImageRequest request, IProjectPathResolver resolver, RenderOutputFetcher fetcher, IResponsePathFormatter paths, CancellationToken cancellationToken)
    {
        var (url, urlField) = Pick(request.ImageUrl, "imageUrl", request.ImageUrlSnake, "image_url");
        if (string.IsNullOrEmpty(url))
        {
            throw new ApiProblemException(StatusCodes.Status422UnprocessableEntity, "Invalid image URL", $"'{urlField}' is required.");
        }

        var (folder, target) = await ResolveSaveTargetAsync(request, resolver, cancellationToken);
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            using var data = new MemoryStream(RenderOutputFetcher.DecodeDataUrl(url, urlField));
            return await SaveAsync(folder, target, data, request.Overwrite ?? false, paths, cancellationToken);
        }

        var viewUrl = await fetcher.ResolveViewUrlAsync(url, urlField, cancellationToken);
        using var response = await fetcher.OpenAsync(viewUrl, cancellationToken);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        return await SaveAsync(folder, target, body, request.Overwrite ?? false, paths, cancellationToken);
    }

    public static async Task<Created<SaveImageResponse>> SaveBase64ImageAsync(
        SaveBase64ImageRequest request, IProjectPathResolver resolver, IResponsePathFormatter paths, CancellationToken cancellationToken)
    {
        var (url, urlField) = Pick(request.DataUrl, "dataUrl", request.DataUrlSnake, "data_url");
        var bytes = RenderOutputFetcher.DecodeDataUrl(url, urlField);
        var (folder, target) = await ResolveSaveTargetAsync(request, resolver, cancellationToken);
        using var data = new MemoryStream(bytes);
        return await SaveAsync(folder, target, data, request.Overwrite ?? false, paths, cancellationToken);
    }

    // The folder may be missing (the web app saves the first image of a panel into a panel folder not made yet); the
    // file name may hold subfolders below it (Panel_01/render.png), each a valid name. Missing folders are created on
    // the way down from the root. A rooted name is a path where a name belongs: refused.
    private static async Task<(ConfinedPath Folder, ConfinedPath Target)> ResolveSaveTargetAsync(
        SaveImageTarget request, IProjectPathResolver resolver, CancellationToken cancellationToken)
    {
        var (folderText, folderField) = Pick(request.FolderPath, "folderPath", request.FolderPathSnake, "folder_path");
        if (string.IsNullOrEmpty(request.Filename))
        {
            throw new InvalidClientPathException("filename", "'filename' is required.", input: request.Filename);
        }

        if (request.Filename[0] is '/' or '\\' || (request.Filename.Length >= 2 && request.Filename[1] == ':'))
        {
            throw new InvalidClientPathException("filename",
                "'filename' must be a file name (optionally below subfolders of the folder), not an absolute path; send the folder as 'folderPath'.", input: request.Filename);
        }

        var parts = request.Filename.Split(['/', '\\']);
        if (parts.Length > 8)
        {
            throw new InvalidClientPathException("filename", "'filename' must be a file name, optionally below at most 7 subfolders.", input: request.Filename);
        }

        foreach (var part in parts)
        {
            ClientNames.Validate(part, "filename");
        }

        if (!MediaTypes.IsMedia(parts[^1]))
        {
            throw new InvalidClientPathException("filename", $"'filename' must end in an image or video extension ({string.Join(", ", MediaTypes.Extensions)}).", input: request.Filename);
        }

        var folder = await resolver.ResolveAsync(folderText, folderField, cancellationToken);
        if (File.Exists(folder.FullPath))
        {
            throw ApiProblemException.Conflict($"'{folderField}' is a file, not a folder: {folder.FullPath}");
        }

        var target = await resolver.ResolveWithinAsync(folder, string.Join('/', parts), "filename", cancellationToken);
        if (Directory.Exists(target.FullPath))
        {
            throw ApiProblemException.Conflict($"{request.Filename} is a folder.");
        }

        if (File.Exists(target.FullPath) && request.Overwrite != true)
        {
            throw ApiProblemException.Conflict($"{request.Filename} already exists; send overwrite: true to replace it.");
        }

        return (folder, target);
    }

    // Written through verified folder handles from the root down, each missing folder made inside the verified one
    // above it, so a folder swapped for a link after the path check cannot take the file (or a new folder) elsewhere.
    private static async Task<Created<SaveImageResponse>> SaveAsync(
        ConfinedPath folder, ConfinedPath target, Stream content, bool overwrite, IResponsePathFormatter paths, CancellationToken cancellationToken)
    {
        // The resolved target (links already followed) below its root, one name at a time.
        var parts = Path.GetRelativePath(folder.Root, target.FullPath).Split(Path.DirectorySeparatorChar);
        var opened = new List<ConfinedFolder> { ConfinedFolder.Open(folder.Root, folder.Root, "folderPath") };
        var created = new List<(ConfinedFolder Parent, string Name)>();
        try
        {
            foreach (var part in parts[..^1])
            {
                opened.Add(opened[^1].Subfolder(part, create: true, out var made));
                if (made)
                {
                    created.Add((opened[^2], part));
                }
            }

            var existed = File.Exists(target.FullPath);
            var size = await AtomicFile.WriteNewAsync(opened[^1], parts[^1], content, RenderOutputFetcher.MaxImageBytes, overwrite, cancellationToken);
            var shown = paths.Format(target.FullPath);
            return TypedResults.Created($"/api/serve-image?path={Uri.EscapeDataString(shown)}",
                new SaveImageResponse(true, shown, null, "Image saved successfully", shown, Path.GetFileName(target.FullPath), size, existed && overwrite));
        }
        catch
        {
            // Leave the tree as it was: remove the folders this request made, innermost first, if still empty.
            foreach (var (parent, name) in created.AsEnumerable().Reverse())
            {
                if (!parent.TryDelete(name, isFolder: true))
                {
                    break;
                }
            }

            throw;
        }
        finally
        {
            foreach (var handle in opened)
            {
                handle.Dispose();
            }
        }
    }

    private static IEnumerable<MediaFile> MediaIn(string folder, IReadOnlyList<string> roots, IResponsePathFormatter paths, CancellationToken cancellationToken) =>
        ProjectFileWalker.List(folder, roots, cancellationToken)
            .Where(entry => !entry.IsDirectory && MediaTypes.IsMedia(entry.Path))
            .Select(entry => new MediaFile(
                Path.GetFileName(entry.Path), paths.Format(entry.Path), EpochSeconds(entry.Modified), entry.RelativePath, entry.Size, MediaTypes.KindOf(entry.Path)!));

    /// <summary>Seconds since 1970 with fractions: the unit of the original's <c>modified_time</c> (Python's st_mtime).</summary>
    private static double EpochSeconds(DateTimeOffset time) => (time - DateTimeOffset.UnixEpoch).TotalSeconds;

    // An image's .json sidecar, written by older versions of the storyboard: a small JSON object, or nothing usable.
    private static async Task<JsonObject> ReadSidecarAsync(string path, string folder, CancellationToken cancellationToken)
    {
        const int MaxSidecarBytes = 1024 * 1024;
        try
        {
            await using var stream = ConfinedFile.OpenFoundFile(path, folder);
            if (ConfinedFile.StatOf(stream).Length > MaxSidecarBytes)
            {
                return [];
            }

            return await JsonNode.ParseAsync(stream, cancellationToken: cancellationToken) as JsonObject ?? [];
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException or PathNotAllowedException or ApiProblemException)
        {
            return [];
        }
    }

    // Read through a verified handle: the size and the content are those of the file that was checked.
    private static async Task<(JsonObject? State, string? Problem)> ReadProjectFileAsync(Func<FileStream> open, CancellationToken cancellationToken)
    {
        FileStream opened;
        try
        {
            opened = open();
        }
        catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status404NotFound)
        {
            return (null, "is missing");
        }

        await using var stream = opened;
        if (ConfinedFile.StatOf(stream).Length > MaxProjectFileBytes)
        {
            return (null, $"is larger than {MaxProjectFileBytes} bytes");
        }

        try
        {
            return await JsonNode.ParseAsync(stream, cancellationToken: cancellationToken) is JsonObject state
                ? (state, null)
                : (null, "is corrupt (not a JSON object)");
        }
        catch (JsonException ex)
        {
            return (null, $"is corrupt ({ex.Message})");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, $"could not be read ({ex.Message})");
        }
    }

    private static string RootOf(string path, IReadOnlyList<string> roots) =>
        roots.Where(root => ProjectPathResolver.IsInside(path, root)).OrderByDescending(root => root.Length).FirstOrDefault() ?? path;

    private static bool IsProjectFileName(string name) =>
        name.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
        && (name.StartsWith("project", StringComparison.OrdinalIgnoreCase) || name.EndsWith("_project.json", StringComparison.OrdinalIgnoreCase));

    // The web app walks prompt and workflow as objects of nodes; a chunk that is not a JSON object is left to `text`.
    private static JsonObject? JsonObjectOf(IReadOnlyDictionary<string, string> text, string key)
    {
        if (!text.TryGetValue(key, out var value))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(value) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static int? Number(Match match, string group) =>
        match.Groups[group] is { Success: true } captured && int.TryParse(captured.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
            ? number
            : null;

    /// <summary>Creates <paramref name="folder"/> and any missing folder above it, down from its root through verified
    /// folder handles (as the original created a missing project or panel folder, but never outside the roots).</summary>
    private static void EnsureFolder(ConfinedPath folder, string field)
    {
        if (Directory.Exists(folder.FullPath))
        {
            return;
        }

        try
        {
            ConfinedFile.OpenOrCreateFolder(folder.Root, folder.FullPath, new List<string>()).Dispose();
        }
        catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status404NotFound)
        {
            throw ApiProblemException.NotFound($"'{field}': the project root of {folder.FullPath} does not exist.");
        }
    }

    private static void RequireFolder(ConfinedPath folder, string field)
    {
        if (!Directory.Exists(folder.FullPath))
        {
            throw ApiProblemException.NotFound($"'{field}': folder not found: {folder.FullPath}");
        }
    }

    private static (string? Value, string Field) Pick(string? camel, string camelField, string? snake, string snakeField) =>
        camel is not null ? (camel, camelField) : snake is not null ? (snake, snakeField) : (null, camelField);

    private static ProjectDto ToDto(CurrentProject project, IResponsePathFormatter paths) =>
        new(project.Name, paths.Format(project.Path), project.NamingTemplate, project.OrchestratorUrl, project.AutoSave,
            project.Description, project.CreatedAt, project.UpdatedAt);
}
