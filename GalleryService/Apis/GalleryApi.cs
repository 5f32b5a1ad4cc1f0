using DirectorsConsole.GalleryService.Gallery;
using DirectorsConsole.GalleryService.Gallery.Browsing;
using DirectorsConsole.GalleryService.Gallery.Catalog;
using DirectorsConsole.GalleryService.Gallery.Files;
using DirectorsConsole.GalleryService.Gallery.Search;
using DirectorsConsole.GalleryService.Gallery.Trash;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace DirectorsConsole.GalleryService.Apis;

/// <summary>The 23 gallery routes of API doc 3 under <c>/api/gallery</c>, answering as the original server did (its
/// snake_case names, <c>success</c> and <c>message</c>; see docs/frontend-contract.md). Requests take the snake_case
/// and the camelCase names; errors are ProblemDetails with the status that fits (422: FastAPI's list), with
/// <c>success: false</c> and a <c>message</c>.</summary>
public static class GalleryApi
{
    public static RouteGroupBuilder MapGalleryApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/gallery").WithTags("Gallery").WithSuccessFlagErrors().AddEndpointFilter<GalleryErrorFilter>();

        // Browsing
        api.MapPost("/scan-tree", ScanTreeAsync).Documented("GalleryScanTree", "The folder tree of a project: folders only, with media counts from the names (no stat per file)");
        api.MapPost("/scan-folder", ScanFolderAsync).Documented("GalleryScanFolder", "One folder's media files, sorted, filtered and paged (offset/limit)");
        api.MapPost("/scan-recursive", ScanRecursiveAsync).Documented("GalleryScanRecursive", "Every folder below a folder with its media files; use sparingly on large projects");
        api.MapPost("/file-info", FileInfoAsync).Documented("GalleryFileInfo", "One file's details: size, times, width and height, rating, tags and PNG metadata");

        // File operations
        api.MapPost("/move-files", MoveFilesAsync).Documented("GalleryMoveFiles", "Move files (and their .json sidecars) to a folder of the project, all or nothing; conflict rename|skip|overwrite");
        api.MapPost("/rename-file", RenameFileAsync).Documented("GalleryRenameFile", "Rename one file (and its sidecar), keeping its rating and tags");
        api.MapPost("/batch-rename", BatchRenameAsync).Documented("GalleryBatchRename", "Rename many files by template, regex or sequence; dryRun (default) previews and reports clashes, a real run renames all or nothing");
        api.MapPost("/auto-rename", AutoRenameAsync).Documented("GalleryAutoRename", "Rename a whole folder by a naming pattern, in creation order; dryRun (default) previews");

        // Trash
        api.MapPost("/trash", TrashAsync).Documented("GalleryTrashFiles", "Move files to {project}/.gallery/.trash/, keeping what is needed to restore them with their ratings and tags");
        api.MapGet("/trash", ListTrashAsync).Documented("GalleryListTrash", "The files in the project's trash");
        api.MapPost("/restore", RestoreAsync).Documented("GalleryRestore", "Put trashed files back where they were (adding _N when the name is taken), with their ratings and tags");
        api.MapPost("/empty-trash", EmptyTrashAsync).Documented("GalleryEmptyTrash", "Delete trashed files for good (all, or the trashIds given)");

        // Ratings, tags, views
        api.MapGet("/ratings", GetRatingsAsync).Documented("GalleryGetRatings", "The rated files of a project (path relative to the project → 1–5)");
        api.MapPost("/ratings", SetRatingsAsync).Documented("GallerySetRating", "Rate a file 1–5 (0 removes the rating); the original's {ratings: {path: n}} form also works");
        api.MapGet("/tags", GetTagsAsync).Documented("GalleryGetTags", "The project's tags by id, with how many files carry each");
        api.MapPost("/tags", SaveTagAsync).Documented("GallerySaveTag", "Create a tag, or with tagId rename or recolour it (the colour is kept unless given)");
        api.MapDelete("/tags", DeleteTagAsync).Documented("GalleryDeleteTag", "Delete a tag and take it off every file (body {projectPath, tagId} or query)");
        api.MapPost("/file-tags", FileTagsAsync).Documented("GalleryFileTags", "Add and remove tags of one file");
        api.MapGet("/views", GetViewsAsync).Documented("GalleryGetViews", "The saved views of a project, and the one named (default: 'default')");
        api.MapPost("/views", SaveViewAsync).Documented("GallerySaveView", "Create or replace a saved view (view mode, sort, thumbnail size, filters, folder state)");

        // Search and statistics
        api.MapPost("/search", SearchAsync).Documented("GallerySearch", "Search the PNG metadata (prompt, workflow, parameters, negative_prompt…) of a project's images");
        api.MapPost("/find-duplicates", FindDuplicatesAsync).Documented("GalleryFindDuplicates", "Groups of byte-identical media files (same size, then same SHA-256)");
        api.MapPost("/folder-stats", FolderStatsAsync).Documented("GalleryFolderStats", "File counts and sizes below a folder, by kind and extension");
        return api;
    }

    /// <summary>Name, summary and the error responses every gallery route can give, for the OpenAPI document.</summary>
    private static RouteHandlerBuilder Documented(this RouteHandlerBuilder route, string name, string summary) =>
        route.WithName(name)
            .WithSummary(summary)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .Produces<GalleryValidationErrorResponse>(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesProblem(StatusCodes.Status507InsufficientStorage);

    public static async Task<Ok<ScanTreeResponse>> ScanTreeAsync(ScanTreeRequest request, GalleryBrowser browser, CancellationToken cancellationToken) =>
        TypedResults.Ok(await browser.ScanTreeAsync(request, cancellationToken));

    public static async Task<Ok<ScanFolderResponse>> ScanFolderAsync(ScanFolderRequest request, GalleryBrowser browser, CancellationToken cancellationToken) =>
        TypedResults.Ok(await browser.ScanFolderAsync(request, cancellationToken));

    public static async Task<Ok<ScanRecursiveResponse>> ScanRecursiveAsync(ScanRecursiveRequest request, GalleryBrowser browser, CancellationToken cancellationToken) =>
        TypedResults.Ok(await browser.ScanRecursiveAsync(request, cancellationToken));

    public static async Task<Ok<FileInfoResponse>> FileInfoAsync(FileInfoRequest request, GalleryBrowser browser, CancellationToken cancellationToken) =>
        TypedResults.Ok(await browser.FileInfoAsync(request, cancellationToken));

    public static async Task<Ok<MoveFilesResponse>> MoveFilesAsync(MoveFilesRequest request, GalleryFileOperations files, CancellationToken cancellationToken) =>
        TypedResults.Ok(await files.MoveAsync(request, cancellationToken));

    public static async Task<Ok<RenameFileResponse>> RenameFileAsync(RenameFileRequest request, GalleryFileOperations files, CancellationToken cancellationToken) =>
        TypedResults.Ok(await files.RenameAsync(request, cancellationToken));

    public static async Task<Ok<BatchRenameResponse>> BatchRenameAsync(BatchRenameRequest request, GalleryFileOperations files, CancellationToken cancellationToken) =>
        TypedResults.Ok(await files.BatchRenameAsync(request, cancellationToken));

    public static async Task<Ok<BatchRenameResponse>> AutoRenameAsync(AutoRenameRequest request, GalleryFileOperations files, CancellationToken cancellationToken) =>
        TypedResults.Ok(await files.AutoRenameAsync(request, cancellationToken));

    public static async Task<Ok<TrashResponse>> TrashAsync(TrashRequest request, GalleryTrash trash, CancellationToken cancellationToken) =>
        TypedResults.Ok(await trash.TrashAsync(request, cancellationToken));

    public static async Task<Ok<TrashListResponse>> ListTrashAsync(
        [FromQuery] string? projectPath, [FromQuery(Name = "project_path")] string? projectPathSnake, GalleryTrash trash, CancellationToken cancellationToken) =>
        TypedResults.Ok(await trash.ListAsync(projectPath ?? projectPathSnake, cancellationToken));

    public static async Task<Ok<RestoreResponse>> RestoreAsync(RestoreRequest request, GalleryTrash trash, CancellationToken cancellationToken) =>
        TypedResults.Ok(await trash.RestoreAsync(request, cancellationToken));

    public static async Task<Ok<EmptyTrashResponse>> EmptyTrashAsync(EmptyTrashRequest request, GalleryTrash trash, CancellationToken cancellationToken) =>
        TypedResults.Ok(await trash.EmptyAsync(request, cancellationToken));

    /// <summary><c>paths</c> may repeat (<c>paths=a&amp;paths=b</c>); a comma-separated list is not split, since names may hold commas.</summary>
    public static async Task<Ok<RatingsResponse>> GetRatingsAsync(
        [FromQuery] string? projectPath, [FromQuery(Name = "project_path")] string? projectPathSnake, [FromQuery] string[]? paths,
        GalleryCatalog catalog, CancellationToken cancellationToken) =>
        TypedResults.Ok(await catalog.GetRatingsAsync(projectPath ?? projectPathSnake, paths, cancellationToken));

    public static async Task<Ok<RatingsResponse>> SetRatingsAsync(SetRatingRequest request, GalleryCatalog catalog, CancellationToken cancellationToken) =>
        TypedResults.Ok(await catalog.SetRatingsAsync(request, cancellationToken));

    public static async Task<Ok<TagsResponse>> GetTagsAsync(
        [FromQuery] string? projectPath, [FromQuery(Name = "project_path")] string? projectPathSnake, GalleryCatalog catalog, CancellationToken cancellationToken) =>
        TypedResults.Ok(await catalog.GetTagsAsync(projectPath ?? projectPathSnake, cancellationToken));

    public static async Task<Results<Created<TagResponse>, Ok<TagResponse>>> SaveTagAsync(SaveTagRequest request, GalleryCatalog catalog, CancellationToken cancellationToken)
    {
        var (response, created) = await catalog.SaveTagAsync(request, cancellationToken);
        return created ? TypedResults.Created($"/api/gallery/tags?tag_id={Uri.EscapeDataString(response.Tag.Id)}", response) : TypedResults.Ok(response);
    }

    /// <summary>API doc 3 sends the tag in the body; the original web app sends <c>?project_path=&amp;tag_id=</c>. Both work.</summary>
    public static async Task<Ok<TagDeletedResponse>> DeleteTagAsync(
        [FromBody(EmptyBodyBehavior = Microsoft.AspNetCore.Mvc.ModelBinding.EmptyBodyBehavior.Allow)] DeleteTagRequest? request,
        [FromQuery] string? projectPath, [FromQuery(Name = "project_path")] string? projectPathSnake,
        [FromQuery] string? tagId, [FromQuery(Name = "tag_id")] string? tagIdSnake,
        GalleryCatalog catalog, CancellationToken cancellationToken) =>
        TypedResults.Ok(await catalog.DeleteTagAsync(request?.ProjectPath ?? projectPath ?? projectPathSnake, request?.TagId ?? tagId ?? tagIdSnake, cancellationToken));

    public static async Task<Ok<FileTagsResponse>> FileTagsAsync(FileTagsRequest request, GalleryCatalog catalog, CancellationToken cancellationToken) =>
        TypedResults.Ok(await catalog.ChangeFileTagsAsync(request, cancellationToken));

    public static async Task<Ok<ViewsResponse>> GetViewsAsync(
        [FromQuery] string? projectPath, [FromQuery(Name = "project_path")] string? projectPathSnake, [FromQuery] string? name,
        GalleryCatalog catalog, CancellationToken cancellationToken) =>
        TypedResults.Ok(await catalog.GetViewsAsync(projectPath ?? projectPathSnake, name, cancellationToken));

    public static async Task<Ok<SaveViewResponse>> SaveViewAsync(SaveViewRequest request, GalleryCatalog catalog, CancellationToken cancellationToken) =>
        TypedResults.Ok(await catalog.SaveViewAsync(request, cancellationToken));

    public static async Task<Ok<SearchResponse>> SearchAsync(SearchRequest request, GallerySearch search, CancellationToken cancellationToken) =>
        TypedResults.Ok(await search.SearchAsync(request, cancellationToken));

    public static async Task<Ok<DuplicatesResponse>> FindDuplicatesAsync(FindDuplicatesRequest request, GallerySearch search, CancellationToken cancellationToken) =>
        TypedResults.Ok(await search.FindDuplicatesAsync(request, cancellationToken));

    public static async Task<Ok<FolderStatsResponse>> FolderStatsAsync(FolderStatsRequest request, GalleryBrowser browser, CancellationToken cancellationToken) =>
        TypedResults.Ok(await browser.FolderStatsAsync(request, cancellationToken));
}
