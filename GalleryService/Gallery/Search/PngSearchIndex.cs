using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DirectorsConsole.GalleryService.Gallery.Browsing;
using DirectorsConsole.GalleryService.Gallery.Storage;
using DirectorsConsole.GalleryService.Paths;
using DirectorsConsole.GalleryService.Project;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.GalleryService.Gallery.Search;

/// <summary>
/// The PNG metadata of a project's files, keyed by (relative path, size, modification time): a search reads only
/// the PNGs that are new or changed since the last one. Held in memory per replica (up to
/// <see cref="GalleryOptions.SearchIndexMaxMegachars"/>) and, when the project has a <c>.gallery/</c> folder and
/// <see cref="GalleryOptions.PersistSearchIndex"/> is on, in <c>.gallery/search-index.json</c>, so other replicas and
/// restarts start warm. The file is a cache: entries are trusted only when size and time still match.
/// </summary>
public sealed class PngSearchIndex(IOptions<GalleryOptions> options, ILogger<PngSearchIndex> logger)
{
    public const string FileName = "search-index.json";

    private static readonly JsonSerializerOptions Json = new();

    private readonly ConcurrentDictionary<string, ProjectEntries> _projects = new(StringComparer.Ordinal);
    private long _metadataReads;
    private long _heldChars;

    /// <summary>How many PNG files this replica has read for their metadata (for tests and the benchmark).</summary>
    public long MetadataReads => Interlocked.Read(ref _metadataReads);

    /// <summary>The text fields of each file (chunk keyword → text, plus <c>negative_prompt</c>), in
    /// <paramref name="files"/>' order; how many had to be read.</summary>
    public async Task<(IReadOnlyList<IReadOnlyDictionary<string, string>> Fields, int Read)> GetAsync(
        ConfinedPath project, IReadOnlyList<FoundFile> files, bool wholeProject, CancellationToken cancellationToken)
    {
        var entries = _projects.GetOrAdd(project.FullPath, root => new ProjectEntries(Load(root)));
        var result = new IReadOnlyDictionary<string, string>[files.Count];
        var misses = new List<int>();
        for (var i = 0; i < files.Count; i++)
        {
            var file = files[i];
            if (entries.Items.TryGetValue(GalleryPaths.KeyOf(project, file.FullPath), out var entry)
                && entry.Size == file.Length && entry.Modified == file.LastWriteUtc.Ticks)
            {
                result[i] = entry.Fields;
            }
            else
            {
                misses.Add(i);
            }
        }

        var budget = (long)options.Value.SearchIndexMaxMegachars * 1_000_000;
        await Parallel.ForEachAsync(misses, new ParallelOptions { MaxDegreeOfParallelism = options.Value.HashParallelism, CancellationToken = cancellationToken },
            (i, _) =>
            {
                var file = files[i];
                var fields = ReadFields(file.FullPath, project.FullPath);
                Interlocked.Increment(ref _metadataReads);
                result[i] = fields;
                var chars = fields.Sum(field => (long)field.Key.Length + field.Value.Length);
                if (Interlocked.Add(ref _heldChars, chars) <= budget)
                {
                    entries.Items[GalleryPaths.KeyOf(project, file.FullPath)] = new Entry(file.Length, file.LastWriteUtc.Ticks, fields);
                }
                else
                {
                    Interlocked.Add(ref _heldChars, -chars);
                }

                return ValueTask.CompletedTask;
            });

        var removed = 0;
        // When every file was found and the index holds as many entries as there are files, it holds exactly them:
        // nothing to remove, and no set of every key to build.
        if (wholeProject && (misses.Count > 0 || entries.Items.Count != files.Count))
        {
            var present = files.Select(file => GalleryPaths.KeyOf(project, file.FullPath)).ToHashSet(StringComparer.Ordinal);
            foreach (var key in entries.Items.Keys.Where(key => !present.Contains(key)).ToList())
            {
                if (entries.Items.TryRemove(key, out var gone))
                {
                    Interlocked.Add(ref _heldChars, -gone.Fields.Sum(field => (long)field.Key.Length + field.Value.Length));
                    removed++;
                }
            }
        }

        if (misses.Count + removed > 0)
        {
            await SaveAsync(project.FullPath, entries, cancellationToken);
        }

        return (result, misses.Count);
    }

    /// <summary>Chunk keyword → text, plus <c>negative_prompt</c> when it can be told apart (A1111's
    /// "Negative prompt:" line, or the text of the ComfyUI node wired to a sampler's negative input).</summary>
    private IReadOnlyDictionary<string, string> ReadFields(string path, string projectRoot)
    {
        Dictionary<string, string> fields;
        try
        {
            using var stream = ConfinedFile.OpenFoundFile(path, projectRoot, 16 * 1024);
            fields = new Dictionary<string, string>(PngMetadataReader.Read(stream), StringComparer.Ordinal);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException or ApiProblemException or PathNotAllowedException)
        {
            logger.LogDebug(ex, "No metadata from {Path}", path);
            return new Dictionary<string, string>();
        }

        if (!fields.ContainsKey("negative_prompt") && NegativePrompt(fields) is { Length: > 0 } negative)
        {
            fields["negative_prompt"] = negative;
        }

        return fields;
    }

    private static string? NegativePrompt(IReadOnlyDictionary<string, string> fields)
    {
        if (fields.GetValueOrDefault("parameters") is { } parameters && parameters.IndexOf("Negative prompt:", StringComparison.Ordinal) is var at and >= 0)
        {
            var rest = parameters[(at + "Negative prompt:".Length)..];
            var end = rest.IndexOf("\nSteps:", StringComparison.Ordinal);
            return (end < 0 ? rest : rest[..end]).Trim();
        }

        if (fields.GetValueOrDefault("prompt") is not { } prompt)
        {
            return null;
        }

        try
        {
            if (JsonNode.Parse(prompt) is not JsonObject graph)
            {
                return null;
            }

            var texts = graph
                .Select(node => node.Value?["inputs"]?["negative"] as JsonArray)
                .Where(link => link is { Count: > 0 })
                .Select(link => graph[link![0]?.ToString() ?? ""]?["inputs"]?["text"])
                .OfType<JsonValue>()
                .Select(text => text.TryGetValue<string>(out var value) ? value : null)
                .Where(text => !string.IsNullOrEmpty(text))
                .Distinct()
                .ToList();
            return texts.Count == 0 ? null : string.Join("\n", texts);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    private ConcurrentDictionary<string, Entry> Load(string projectRoot)
    {
        var path = Path.Combine(GalleryStore.GalleryFolderOf(projectRoot), FileName);
        if (!options.Value.PersistSearchIndex || !File.Exists(path))
        {
            return new(StringComparer.Ordinal);
        }

        try
        {
            using var folder = GalleryStore.OpenGalleryFolder(projectRoot, create: false);
            if (folder is null)
            {
                return new(StringComparer.Ordinal);
            }

            using var stream = folder.OpenRead(FileName);
            var stored = JsonSerializer.Deserialize<StoredIndex>(stream, Json);
            if (stored is not { Version: StoredIndex.CurrentVersion })
            {
                return new(StringComparer.Ordinal);
            }

            var entries = new ConcurrentDictionary<string, Entry>(stored.Entries, StringComparer.Ordinal);
            Interlocked.Add(ref _heldChars, entries.Values.Sum(entry => entry.Fields.Sum(field => (long)field.Key.Length + field.Value.Length)));
            return entries;
        }
        catch (Exception ex) when (ex is JsonException or IOException or ApiProblemException or PathNotAllowedException)
        {
            // Only a cache: rebuilt by reading the files again.
            logger.LogWarning(ex, "Ignored the unreadable search index {Path}", path);
            return new(StringComparer.Ordinal);
        }
    }

    private async Task SaveAsync(string projectRoot, ProjectEntries entries, CancellationToken cancellationToken)
    {
        var folder = GalleryStore.GalleryFolderOf(projectRoot);
        if (!options.Value.PersistSearchIndex || !Directory.Exists(folder))
        {
            // A search is a read: it does not create .gallery/ in a folder that has none.
            return;
        }

        await entries.SaveLock.WaitAsync(cancellationToken);
        try
        {
            using var galleryFolder = GalleryStore.OpenGalleryFolder(projectRoot, create: false);
            if (galleryFolder is not null)
            {
                var bytes = JsonSerializer.SerializeToUtf8Bytes(new StoredIndex(StoredIndex.CurrentVersion, new Dictionary<string, Entry>(entries.Items)), Json);
                await AtomicFile.ReplaceAsync(galleryFolder, FileName, bytes, stillCurrent: null, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is IOException or ApiProblemException or PathNotAllowedException)
        {
            logger.LogWarning(ex, "Could not save the search index of {Project}", projectRoot);
        }
        finally
        {
            entries.SaveLock.Release();
        }
    }

    private sealed class ProjectEntries(ConcurrentDictionary<string, Entry> items)
    {
        public ConcurrentDictionary<string, Entry> Items { get; } = items;

        public SemaphoreSlim SaveLock { get; } = new(1, 1);
    }

    public sealed record Entry(
        [property: JsonPropertyName("size")] long Size,
        [property: JsonPropertyName("mtime")] long Modified,
        [property: JsonPropertyName("fields")] IReadOnlyDictionary<string, string> Fields);

    private sealed record StoredIndex(
        [property: JsonPropertyName("version")] int Version,
        [property: JsonPropertyName("entries")] Dictionary<string, Entry> Entries)
    {
        public const int CurrentVersion = 1;
    }
}
