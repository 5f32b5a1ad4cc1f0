using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using DirectorsConsole.GalleryService.Paths;
using DirectorsConsole.GalleryService.Project;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.GalleryService.Gallery.Storage;

/// <summary>
/// Reads and changes <c>{project}/.gallery/gallery.json</c> so that no writer loses another's change, whether the
/// other is a replica of this service or another machine on the same NAS where file locks may not work:
/// <list type="number">
/// <item>writers of a project hold <see cref="ProjectLock"/> (this replica's semaphore, then a Redis lock);</item>
/// <item>each change is an operation applied to the file as it is on disk now (re-read and parsed again whenever its
/// SHA-256 differs from the copy in memory);</item>
/// <item>the result is written to a temporary file beside it and moved over it (atomic on one file system), but only
/// after checking that the file still has the hash it had when it was read; if another writer got in between, the
/// operation is applied again to the new content (at most <see cref="GalleryOptions.MaxWriteAttempts"/> times).</item>
/// </list>
/// A file that cannot be parsed is moved aside to <c>gallery.json.corrupt-{UTC time}</c>, logged and reported
/// (<see cref="GalleryCorruptException"/>), never silently replaced. Reads do not create <c>.gallery/</c>.
/// </summary>
public sealed class GalleryStore(ProjectLock locks, IOptions<GalleryOptions> options, TimeProvider time, ILogger<GalleryStore> logger)
{
    public const string FileName = "gallery.json";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    private static readonly string EmptyHash = "absent";

    private readonly ConcurrentDictionary<string, Snapshot> _cache = new(StringComparer.Ordinal);

    public static string GalleryFolderOf(string projectRoot) => Path.Combine(projectRoot, MediaTypes.GalleryFolder);

    public static string PathOf(string projectRoot) => Path.Combine(GalleryFolderOf(projectRoot), FileName);

    /// <summary>The project's <c>.gallery</c> folder, opened and verified (<see cref="ConfinedFolder"/>): what is read
    /// and written in it stays in this project even when folders are swapped for links meanwhile. Null when it does not
    /// exist and <paramref name="create"/> is false.</summary>
    public static ConfinedFolder? OpenGalleryFolder(string projectRoot, bool create)
    {
        using var project = ConfinedFolder.Open(projectRoot, projectRoot, "projectPath");
        try
        {
            return project.Subfolder(MediaTypes.GalleryFolder, create, out _);
        }
        catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status404NotFound && !create)
        {
            return null;
        }
    }

    /// <summary>The gallery as it is now, for reading only: the returned document must not be changed. A file whose
    /// size and modification time are what they were is not read again.</summary>
    public Task<GalleryDocument> ReadAsync(string projectRoot, CancellationToken cancellationToken)
    {
        var path = PathOf(projectRoot);
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return Task.FromResult(new GalleryDocument());
        }

        if (_cache.TryGetValue(projectRoot, out var cached) && cached.Length == info.Length && cached.LastWrite == info.LastWriteTimeUtc)
        {
            return Task.FromResult(cached.Document);
        }

        return ReadLockedWhenCorruptAsync(projectRoot, cancellationToken);
    }

    /// <summary>Runs <paramref name="work"/> holding the project's lock. It sees the gallery as it is now and may
    /// change files on disk before it commits its change to the gallery with <see cref="GalleryTransaction.UpdateAsync{T}"/>.</summary>
    public async Task<T> WithLockAsync<T>(string projectRoot, Func<GalleryTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var held = await locks.AcquireAsync(projectRoot, cancellationToken);
        var transaction = new GalleryTransaction(this, projectRoot, ReadForWrite(projectRoot).Document, cancellationToken);
        return await work(transaction);
    }

    /// <summary>Applies one change (re-applied if another writer changed the file meanwhile) and returns its result.</summary>
    public Task<T> UpdateAsync<T>(string projectRoot, Func<GalleryDocument, T> apply, CancellationToken cancellationToken) =>
        WithLockAsync(projectRoot, transaction => transaction.UpdateAsync(apply), cancellationToken);

    internal async Task<T> CommitAsync<T>(string projectRoot, Func<GalleryDocument, T> apply, CancellationToken cancellationToken)
    {
        var path = PathOf(projectRoot);
        var attempts = options.Value.MaxWriteAttempts;
        for (var attempt = 1; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var read = ReadForWrite(projectRoot);
            var document = read.Fresh();
            var result = apply(document);
            if (!document.Changed)
            {
                return result;
            }

            document.Revision++;
            var bytes = JsonSerializer.SerializeToUtf8Bytes(document, Json);
            bool replaced;
            using (var folder = OpenGalleryFolder(projectRoot, create: true)!)
            {
                try
                {
                    // The safety net for writers this lock does not reach: the file must still be the one we read.
                    replaced = await AtomicFile.ReplaceAsync(folder, FileName, bytes, () => HashOfFile(folder) == read.Hash, cancellationToken);
                }
                catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status507InsufficientStorage)
                {
                    throw new GalleryException(ex.Status, ex.Title, $"{ex.Message} ({FileName} of {projectRoot}: no rating, tag or view was changed.)");
                }
                catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status409Conflict)
                {
                    throw FolderInTheWay(path, ex);
                }
            }

            if (!replaced)
            {
                if (attempt >= attempts)
                {
                    throw new GalleryBusyException($"{path} was changed by another writer during each of {attempts} attempts to save this change; nothing was saved.");
                }

                logger.LogInformation("{Path} changed under revision {Revision} (another machine?); applying the change again (attempt {Attempt})",
                    path, document.Revision - 1, attempt + 1);
                await Task.Delay(Random.Shared.Next(5, 20 * attempt), cancellationToken);
                continue;
            }

            var info = new FileInfo(path);
            _cache[projectRoot] = new Snapshot(Convert.ToHexString(SHA256.HashData(bytes)), info.Length, info.LastWriteTimeUtc, document, bytes);
            return result;
        }
    }

    private async Task<GalleryDocument> ReadLockedWhenCorruptAsync(string projectRoot, CancellationToken cancellationToken)
    {
        try
        {
            return ReadForWrite(projectRoot, preserveCorrupt: false).Document;
        }
        catch (GalleryCorruptException)
        {
            // Moving the file aside changes the project, so it is done by a writer: under the lock, after reading again.
            await using var held = await locks.AcquireAsync(projectRoot, cancellationToken);
            return ReadForWrite(projectRoot).Document;
        }
    }

    private Snapshot ReadForWrite(string projectRoot, bool preserveCorrupt = true)
    {
        var path = PathOf(projectRoot);
        byte[] bytes;
        DateTime lastWrite;
        try
        {
            using var folder = OpenGalleryFolder(projectRoot, create: false);
            if (folder is null)
            {
                return new Snapshot(EmptyHash, -1, default, new GalleryDocument(), null);
            }

            using var stream = folder.OpenRead(FileName);
            lastWrite = ConfinedFile.StatOf(stream).LastWriteUtc;
            bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
        }
        catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status404NotFound)
        {
            return new Snapshot(EmptyHash, -1, default, new GalleryDocument(), null);
        }
        catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status409Conflict)
        {
            throw FolderInTheWay(path, ex);
        }

        var hash = Convert.ToHexString(SHA256.HashData(bytes));
        if (_cache.TryGetValue(projectRoot, out var cached) && cached.Hash == hash)
        {
            return cached;
        }

        GalleryDocument document;
        try
        {
            document = JsonSerializer.Deserialize<GalleryDocument>(bytes, Json)?.Normalize()
                ?? throw new JsonException("the file holds null");
        }
        catch (JsonException ex)
        {
            var reason = ex.Message.Split(" Path:")[0].Split(" LineNumber:")[0];
            if (!preserveCorrupt)
            {
                throw new GalleryCorruptException(path, null, reason);
            }

            throw new GalleryCorruptException(path, PreserveCorrupt(path, hash, reason), reason);
        }

        var snapshot = new Snapshot(hash, bytes.Length, lastWrite, document, bytes);
        _cache[projectRoot] = snapshot;
        return snapshot;
    }

    private string? PreserveCorrupt(string path, string hash, string reason)
    {
        var stamp = time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var target = $"{path}.corrupt-{stamp}";
        for (var n = 1; File.Exists(target); n++)
        {
            target = $"{path}.corrupt-{stamp}-{n}";
        }

        try
        {
            File.Move(path, target);
        }
        catch (IOException ex)
        {
            logger.LogError(ex, "{Path} is corrupt ({Reason}) and could not be moved aside", path, reason);
            return null;
        }

        // Another machine may have replaced the corrupt file between our read and the move: then we moved a good
        // file, which goes straight back.
        if (HashOfFile(target) != hash)
        {
            File.Move(target, path);
            throw new GalleryBusyException($"{path} was being replaced by another writer while it was read; try again.");
        }

        logger.LogError("{Path} was corrupt ({Reason}); kept it as {Preserved}; the gallery of this project starts empty", path, reason, target);
        return target;
    }

    private static string HashOfFile(string path)
    {
        var projectRoot = Path.GetDirectoryName(Path.GetDirectoryName(path)!)!;
        using var folder = OpenGalleryFolder(projectRoot, create: false);
        return folder is null ? EmptyHash : HashOfFile(folder, Path.GetFileName(path));
    }

    private static string HashOfFile(ConfinedFolder galleryFolder, string name = FileName)
    {
        try
        {
            using var stream = galleryFolder.OpenRead(name);
            return Convert.ToHexString(SHA256.HashData(stream));
        }
        catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status404NotFound)
        {
            return EmptyHash;
        }
    }

    /// <summary>gallery.json (or .gallery) is a folder, or was swapped meanwhile: a 409 that says what to fix.</summary>
    private static GalleryException FolderInTheWay(string path, ApiProblemException ex) =>
        Directory.Exists(path)
            ? GalleryException.Conflict($"{path} is a folder, not the gallery file; move it out of the way (ratings, tags and views are kept in that file). Nothing was changed.")
            : GalleryException.Conflict($"{path} could not be read or written: {ex.Message}");

    /// <summary>gallery.json as read: its hash and stat, the parsed document (never changed, shared by readers) and
    /// its bytes, from which a writer gets its own copy to change.</summary>
    private sealed record Snapshot(string Hash, long Length, DateTime LastWrite, GalleryDocument Document, byte[]? Bytes)
    {
        public GalleryDocument Fresh() =>
            Bytes is null ? new GalleryDocument() : JsonSerializer.Deserialize<GalleryDocument>(Bytes, Json)!.Normalize();
    }
}

/// <summary>A writer's view of one project's gallery while it holds the lock.</summary>
public sealed class GalleryTransaction(GalleryStore store, string projectRoot, GalleryDocument current, CancellationToken cancellationToken)
{
    public string ProjectRoot { get; } = projectRoot;

    /// <summary>The gallery when the lock was taken; for checks only, not to be changed.</summary>
    public GalleryDocument Current { get; } = current;

    /// <summary>Applies <paramref name="apply"/> to the file as it is at that moment and saves it (see <see cref="GalleryStore"/>).</summary>
    public Task<T> UpdateAsync<T>(Func<GalleryDocument, T> apply) => store.CommitAsync(ProjectRoot, apply, cancellationToken);
}
