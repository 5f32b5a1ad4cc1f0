using System.Text.RegularExpressions;
using DirectorsConsole.GalleryService.Gallery.Storage;
using DirectorsConsole.GalleryService.Paths;

namespace DirectorsConsole.GalleryService.Gallery.Catalog;

/// <summary>Ratings, tags and saved views: the parts of gallery.json that are not files. Every change is one
/// operation for <see cref="GalleryStore.UpdateAsync{T}"/>; the checks that depend on the gallery (does this tag
/// exist?) run inside the operation, on the file as it is when the change is applied.</summary>
public sealed partial class GalleryCatalog(GalleryPaths paths, GalleryStore store, IResponsePathFormatter formatter, TimeProvider time)
{
    public async Task<RatingsResponse> GetRatingsAsync(string? projectPath, IReadOnlyList<string>? filePaths, CancellationToken cancellationToken)
    {
        RequestValidation.Query().Required(projectPath, "projectPath").ThrowIfInvalid();
        var project = await paths.ProjectAsync(projectPath, "projectPath", cancellationToken);
        var document = await store.ReadAsync(project.FullPath, cancellationToken);
        var rated = document.Files.Where(file => file.Value.Rating > 0);
        if (filePaths is { Count: > 0 })
        {
            var keys = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < filePaths.Count; i++)
            {
                keys.Add(GalleryPaths.KeyOf(project, (await paths.WithinAsync(project, filePaths[i], $"paths[{i}]", cancellationToken)).FullPath));
            }

            rated = rated.Where(file => keys.Contains(file.Key));
        }

        return new RatingsResponse(rated.OrderBy(file => file.Key, StringComparer.Ordinal).ToDictionary(file => file.Key, file => file.Value.Rating));
    }

    /// <summary>Spec form <c>{filePath, rating}</c> or the original's <c>{ratings: {path: n}}</c>; 0 removes.</summary>
    public async Task<RatingsResponse> SetRatingsAsync(SetRatingRequest request, CancellationToken cancellationToken)
    {
        var validation = new RequestValidation(request)
            .Required(request.ProjectPath, "projectPath")
            .Check(request.FilePath is { Length: > 0 } || request.Ratings is { Count: > 0 }, "filePath", "give filePath and rating, or ratings", null)
            .Check(request.FilePath is null || request.Rating is not null, "rating", "rating is required with filePath", null)
            .Check(request.Rating is null or >= 0 and <= 5, "rating", "rating must be between 0 and 5 (0 removes it)", request.Rating);
        foreach (var (path, rating) in request.Ratings ?? new Dictionary<string, int>())
        {
            validation.Check(rating is >= 0 and <= 5, "ratings", $"the rating of {path} must be between 0 and 5", rating);
        }

        validation.ThrowIfInvalid();
        var project = await paths.ProjectAsync(request.ProjectPath, "projectPath", cancellationToken);
        var wanted = new Dictionary<string, int>(StringComparer.Ordinal);
        if (request.FilePath is { Length: > 0 })
        {
            wanted[GalleryPaths.KeyOf(project, (await paths.FileAsync(project, request.FilePath, "filePath", cancellationToken)).FullPath)] = request.Rating!.Value;
        }

        foreach (var (path, rating) in request.Ratings ?? new Dictionary<string, int>())
        {
            wanted[GalleryPaths.KeyOf(project, (await paths.FileAsync(project, path, "ratings", cancellationToken)).FullPath)] = rating;
        }

        await store.UpdateAsync(project.FullPath, document =>
        {
            foreach (var (key, rating) in wanted)
            {
                document.SetRating(key, rating, time.GetUtcNow());
            }

            return true;
        }, cancellationToken);
        return new RatingsResponse(wanted) { Message = $"Set {wanted.Count} rating(s)" };
    }

    public async Task<TagsResponse> GetTagsAsync(string? projectPath, CancellationToken cancellationToken)
    {
        RequestValidation.Query().Required(projectPath, "projectPath").ThrowIfInvalid();
        var project = await paths.ProjectAsync(projectPath, "projectPath", cancellationToken);
        var document = await store.ReadAsync(project.FullPath, cancellationToken);
        var counts = document.Files.Values.SelectMany(file => file.TagIds).GroupBy(id => id).ToDictionary(group => group.Key, group => group.Count());
        return new TagsResponse(document.Tags.OrderBy(tag => tag.Value.Name, StringComparer.OrdinalIgnoreCase)
            .Select(tag => new TagView(tag.Key, tag.Value.Name, tag.Value.Color, counts.GetValueOrDefault(tag.Key)))
            .ToList());
    }

    /// <summary>Creates a tag, or with <c>tagId</c> renames / recolours it (keeping what is not given).</summary>
    public async Task<(TagResponse Response, bool Created)> SaveTagAsync(SaveTagRequest request, CancellationToken cancellationToken)
    {
        var name = request.Name?.Trim();
        new RequestValidation(request)
            .Required(request.ProjectPath, "projectPath")
            .Check(request.TagId is not null || name is { Length: > 0 }, "name", "a new tag needs a name", request.Name)
            .Check(name is null || name.Length is > 0 and <= 100, "name", "a tag name has 1 to 100 characters", request.Name)
            .Check(request.Color is null || Color().IsMatch(request.Color), "color", "a colour is #rgb or #rrggbb", request.Color)
            .ThrowIfInvalid();
        var project = await paths.ProjectAsync(request.ProjectPath, "projectPath", cancellationToken);
        return await store.UpdateAsync(project.FullPath, document =>
        {
            var sameName = name is null ? null : document.FindTagByName(name);
            if (request.TagId is { } id)
            {
                if (!document.Tags.ContainsKey(id))
                {
                    throw GalleryException.NotFound($"Tag not found: {id}");
                }

                if (sameName is not null && sameName != id)
                {
                    throw GalleryException.Conflict($"Tag '{name}' already exists (id {sameName}).");
                }

                var updated = document.UpdateTag(id, name, request.Color);
                return (new TagResponse(new TagView(id, updated.Name, updated.Color, document.FileCountOf(id))) { Message = "Tag updated" }, false);
            }

            if (sameName is not null)
            {
                throw GalleryException.Conflict($"Tag '{name}' already exists (id {sameName}).");
            }

            var (newId, tag) = document.CreateTag(name!, request.Color ?? "#808080");
            return (new TagResponse(new TagView(newId, tag.Name, tag.Color, 0)) { Message = "Tag created" }, true);
        }, cancellationToken);
    }

    public async Task<TagDeletedResponse> DeleteTagAsync(string? projectPath, string? tagId, CancellationToken cancellationToken)
    {
        new RequestValidation(null).Required(projectPath, "projectPath").Required(tagId, "tagId").ThrowIfInvalid();
        var project = await paths.ProjectAsync(projectPath, "projectPath", cancellationToken);
        return await store.UpdateAsync(project.FullPath, document => document.Tags.ContainsKey(tagId!)
            ? new TagDeletedResponse(tagId!, document.DeleteTag(tagId!)) { Message = "Tag deleted" }
            : throw GalleryException.NotFound($"Tag not found: {tagId}"), cancellationToken);
    }

    public async Task<FileTagsResponse> ChangeFileTagsAsync(FileTagsRequest request, CancellationToken cancellationToken)
    {
        new RequestValidation(request)
            .Required(request.ProjectPath, "projectPath")
            .Required(request.FilePath, "filePath")
            .OneOf(request.Action, "action", "add", "remove")
            .Check(request.TagIds is null || request.Action is not null, "action", "tagIds needs action 'add' or 'remove'", null)
            .ThrowIfInvalid();
        var add = (request.AddTags ?? []).Concat(request.Action == "add" ? request.TagIds ?? [] : []).Distinct().ToList();
        var remove = (request.RemoveTags ?? []).Concat(request.Action == "remove" ? request.TagIds ?? [] : []).Distinct().ToList();
        var project = await paths.ProjectAsync(request.ProjectPath, "projectPath", cancellationToken);
        var file = await paths.FileAsync(project, request.FilePath, "filePath", cancellationToken);
        var key = GalleryPaths.KeyOf(project, file.FullPath);
        var tags = await store.UpdateAsync(project.FullPath, document =>
        {
            if (add.FirstOrDefault(id => !document.Tags.ContainsKey(id)) is { } unknown)
            {
                throw GalleryException.NotFound($"Tag not found: {unknown}");
            }

            return TagInfo.Of(document.ChangeFileTags(key, add, remove, time.GetUtcNow()), document);
        }, cancellationToken);
        return new FileTagsResponse(formatter.Format(file.FullPath), key, tags) { Message = $"{tags.Count} tag(s) on the file" };
    }

    public async Task<ViewsResponse> GetViewsAsync(string? projectPath, string? name, CancellationToken cancellationToken)
    {
        RequestValidation.Query().Required(projectPath, "projectPath").ThrowIfInvalid();
        var project = await paths.ProjectAsync(projectPath, "projectPath", cancellationToken);
        var document = await store.ReadAsync(project.FullPath, cancellationToken);
        var views = document.Views.ToDictionary(view => view.Key, view => ToView(view.Key, view.Value));
        var wanted = name ?? "default";
        var selected = views.GetValueOrDefault(wanted) ?? (name is null ? views.Values.FirstOrDefault(view => view.IsDefault) : null);
        return new ViewsResponse(selected, views);
    }

    public async Task<SaveViewResponse> SaveViewAsync(SaveViewRequest request, CancellationToken cancellationToken)
    {
        var name = request.Name ?? "default";
        new RequestValidation(request)
            .Required(request.ProjectPath, "projectPath")
            .Check(name.Trim().Length is > 0 and <= 100, "name", "a view name has 1 to 100 characters", request.Name)
            .OneOf(request.ViewMode, "viewMode", "grid", "list", "masonry", "timeline", "compare")
            .OneOf(request.SortDirection, "sortDirection", "asc", "desc")
            .Check(request.ThumbnailSize is null or >= 16 and <= 4096, "thumbnailSize", "thumbnailSize must be between 16 and 4096", request.ThumbnailSize)
            .ThrowIfInvalid();
        var project = await paths.ProjectAsync(request.ProjectPath, "projectPath", cancellationToken);
        var record = new GalleryViewRecord
        {
            ViewMode = request.ViewMode ?? "grid",
            SortField = request.SortField ?? "name",
            SortDirection = request.SortDirection ?? "asc",
            ThumbnailSize = request.ThumbnailSize ?? 200,
            FiltersJson = request.FiltersJson ?? "{}",
            CurrentPath = request.CurrentPath ?? "",
            FolderTreeState = request.FolderTreeState ?? "{}",
            IsDefault = request.IsDefault ?? name == "default",
        };
        var saved = await store.UpdateAsync(project.FullPath, document => document.SaveView(name, record), cancellationToken);
        return new SaveViewResponse(saved.Id, ToView(name, saved));
    }

    private static ViewView ToView(string name, GalleryViewRecord view) =>
        new(view.Id, name, view.ViewMode, view.SortField, view.SortDirection, view.ThumbnailSize, view.FiltersJson, view.CurrentPath,
            view.FolderTreeState, view.IsDefault);

    [GeneratedRegex("^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")]
    private static partial Regex Color();
}
