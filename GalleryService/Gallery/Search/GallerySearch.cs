using System.Buffers;
using System.Security.Cryptography;
using DirectorsConsole.GalleryService.Gallery.Browsing;
using DirectorsConsole.GalleryService.Gallery.Storage;
using DirectorsConsole.GalleryService.Paths;
using DirectorsConsole.GalleryService.Project;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.GalleryService.Gallery.Search;

/// <summary>
/// Search over PNG metadata (case-insensitive substring, first matching field per file with ±50 characters of
/// context, as the original) and byte-identical duplicates: files are grouped by size first, and only files that
/// share a size are hashed (SHA-256, each read once, a few at a time).
/// </summary>
public sealed class GallerySearch(
    GalleryPaths paths,
    ProjectScanner scanner,
    GalleryStore store,
    PngSearchIndex index,
    IResponsePathFormatter formatter,
    IOptions<GalleryOptions> options)
{
    private const int ContextChars = 50;
    private static readonly string[] DefaultFields = ["prompt", "workflow", "parameters"];

    private long _filesHashed;

    /// <summary>How many files this replica has hashed looking for duplicates (for tests and the benchmark).</summary>
    public long FilesHashed => Interlocked.Read(ref _filesHashed);

    public async Task<SearchResponse> SearchAsync(SearchRequest request, CancellationToken cancellationToken)
    {
        var maximum = options.Value.MaxSearchResults;
        new RequestValidation(request)
            .Required(request.ProjectPath, "projectPath")
            .Required(request.Query, "query")
            .Check(request.Query is null || request.Query.Trim().Length > 0, "query", "the query may not be blank", request.Query)
            .Check(request.MaxResults is null or >= 1 && (request.MaxResults ?? 1) <= maximum, "maxResults", $"maxResults must be between 1 and {maximum}", request.MaxResults)
            .Check(request.Fields is not { Count: 0 }, "fields", "name at least one field, or leave fields out", request.Fields)
            .ThrowIfInvalid();
        var project = await paths.ProjectAsync(request.ProjectPath, "projectPath", cancellationToken);
        var folder = await paths.FolderAsync(project, request.FolderPath, "folderPath", cancellationToken);
        var document = await store.ReadAsync(project.FullPath, cancellationToken);
        var files = new List<FoundFile>();
        // Folders unchanged since an earlier search are not listed again: one stat per folder, none per file.
        await foreach (var found in scanner.WalkRememberedAsync(project, folder.FullPath, name => MediaTypes.IsPng(name), cancellationToken))
        {
            files.AddRange(found.Files);
        }

        var wholeProject = string.Equals(folder.FullPath, project.FullPath, StringComparison.Ordinal);
        var (metadata, read) = await index.GetAsync(project, files, wholeProject, cancellationToken);
        var query = request.Query!.Trim();
        // The same matches as IndexOf(query, OrdinalIgnoreCase), found with a vectorised search that anchors on the
        // query's rarer characters: several times faster on JSON workflows, where common letters are everywhere.
        var needle = SearchValues.Create([query], StringComparison.OrdinalIgnoreCase);
        var fields = request.Fields ?? DefaultFields;
        var limit = request.MaxResults ?? 100;
        var results = new List<SearchHit>();
        var total = 0;
        for (var i = 0; i < files.Count; i++)
        {
            foreach (var field in fields)
            {
                var text = metadata[i].GetValueOrDefault(field);
                var at = text is null ? -1 : text.AsSpan().IndexOfAny(needle);
                if (at < 0)
                {
                    continue;
                }

                total++;
                if (results.Count < limit)
                {
                    var start = Math.Max(0, at - ContextChars);
                    var end = Math.Min(text!.Length, at + query.Length + ContextChars);
                    var key = GalleryPaths.KeyOf(project, files[i].FullPath);
                    results.Add(new SearchHit(formatter.Format(files[i].FullPath), key, field, text[start..end], document.RatingOf(key)));
                }

                break;
            }
        }

        return new SearchResponse(results, total, total > results.Count, files.Count, read) { Message = $"Found {total} matching file(s)" };
    }

    public async Task<DuplicatesResponse> FindDuplicatesAsync(FindDuplicatesRequest request, CancellationToken cancellationToken)
    {
        new RequestValidation(request)
            .Check(request.ProjectPath is { Length: > 0 } || request.FolderPath is { Length: > 0 }, "projectPath", "projectPath (or folderPath) is required", null)
            .ThrowIfInvalid();
        var project = request.ProjectPath is { Length: > 0 }
            ? await paths.ProjectAsync(request.ProjectPath, "projectPath", cancellationToken)
            : await paths.ProjectAsync(request.FolderPath, "folderPath", cancellationToken);
        var folder = request.ProjectPath is { Length: > 0 } ? await paths.FolderAsync(project, request.FolderPath, "folderPath", cancellationToken) : project;
        var document = await store.ReadAsync(project.FullPath, cancellationToken);
        var files = new List<FoundFile>();
        await foreach (var found in scanner.WalkAsync(project, folder.FullPath, name => MediaTypes.IsMedia(name), cancellationToken))
        {
            files.AddRange(found.Files);
        }

        // Empty files are all alike and waste nothing; they are not reported.
        var candidates = files.Where(file => file.Length > 0).GroupBy(file => file.Length).Where(group => group.Count() > 1).SelectMany(group => group).ToList();
        var hashes = new string?[candidates.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, candidates.Count),
            new ParallelOptions { MaxDegreeOfParallelism = options.Value.HashParallelism, CancellationToken = cancellationToken },
            async (i, token) =>
            {
                hashes[i] = await HashAsync(candidates[i].FullPath, project.FullPath, token);
                Interlocked.Increment(ref _filesHashed);
            });

        var groups = candidates.Select((file, i) => (File: file, Hash: hashes[i]))
            .Where(item => item.Hash is not null)
            .GroupBy(item => (item.File.Length, item.Hash))
            .Where(group => group.Count() > 1)
            .Select(group => new DuplicateGroup(group.Key.Hash!, group.Key.Length, group
                .OrderBy(item => item.File.FullPath, StringComparer.Ordinal)
                .Select(item => GalleryPaths.KeyOf(project, item.File.FullPath) is var key
                    ? new DuplicateFile(item.File.Name, formatter.Format(item.File.FullPath), key, item.File.Length,
                        GalleryResponse.EpochSeconds(item.File.LastWriteUtc), document.RatingOf(key))
                    : null!)
                .ToList()))
            .OrderByDescending(group => group.Size * (group.Files.Count - 1))
            .ThenBy(group => group.Files[0].RelPath, StringComparer.Ordinal)
            .ToList();
        var duplicates = groups.Sum(group => group.Files.Count - 1);
        return new DuplicatesResponse(groups, duplicates, groups.Sum(group => group.Size * (group.Files.Count - 1)), candidates.Count)
        {
            Message = $"Found {groups.Count} duplicate group(s), {duplicates} duplicate file(s)",
        };
    }

    private static async Task<string?> HashAsync(string path, string projectRoot, CancellationToken cancellationToken)
    {
        try
        {
            // Unbuffered: the hash reads in large pooled chunks itself, and a buffer per file would cost more than the read.
            await using var stream = ConfinedFile.OpenFoundFile(path, projectRoot, bufferSize: 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
            return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ApiProblemException or PathNotAllowedException)
        {
            // Removed or locked since the scan: it cannot be compared, so it is not reported.
            return null;
        }
    }
}
