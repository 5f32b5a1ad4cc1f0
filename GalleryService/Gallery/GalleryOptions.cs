using System.ComponentModel.DataAnnotations;

namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>The gallery's settings, section <c>Gallery</c> (environment: <c>Gallery__MaxPageSize</c>…).</summary>
public sealed class GalleryOptions
{
    public const string SectionName = "Gallery";

    /// <summary>The largest page (<c>limit</c>) a client may ask scan-folder for. A request without a limit gets the
    /// whole folder, as from the original server, whose web app reads a folder in one answer.</summary>
    [Range(1, 100_000)]
    public int MaxPageSize { get; set; } = 1000;

    /// <summary>How long one regex of a batch rename may run on one name before the request is refused.</summary>
    [Range(1, 60_000)]
    public int RegexTimeoutMilliseconds { get; set; } = 250;

    /// <summary>How long one request may spend matching a client's naming pattern or regex against all its files
    /// (scan-project-images, scan-versions, batch-rename) before it is refused with a 422.</summary>
    [Range(10, 600_000)]
    public int PatternBudgetMilliseconds { get; set; } = 2000;

    /// <summary>How long a writer waits for the project's Redis lock before answering 503.</summary>
    [Range(100, 600_000)]
    public int LockWaitMilliseconds { get; set; } = 15_000;

    /// <summary>How long a held lock lives in Redis when its holder dies without releasing it.</summary>
    [Range(100, 600_000)]
    public int LockLeaseMilliseconds { get; set; } = 30_000;

    /// <summary>How many times a change is re-applied when another writer changed gallery.json in between.</summary>
    [Range(1, 100)]
    public int MaxWriteAttempts { get; set; } = 10;

    /// <summary>The most results one search returns.</summary>
    [Range(1, 100_000)]
    public int MaxSearchResults { get; set; } = 1000;

    /// <summary>Keep the PNG metadata index under <c>.gallery/search-index.json</c> too, so another replica or a
    /// restart does not read every PNG again.</summary>
    public bool PersistSearchIndex { get; set; } = true;

    /// <summary>The most metadata text (in millions of characters) one replica keeps in memory for search; files
    /// beyond it are read at each search.</summary>
    [Range(1, 100_000)]
    public int SearchIndexMaxMegachars { get; set; } = 256;

    /// <summary>How long a search may answer from the folder listings it read before (one stat per folder instead of
    /// one per file) when the folder's times say nothing was added, removed or renamed in it. A file another program
    /// rewrote in place, under the same name, keeps its folder's times: its new metadata is searched after this long
    /// at the latest. 0: every file is looked at by every search.</summary>
    [Range(0, 86_400)]
    public int SearchRevalidateSeconds { get; set; } = 30;

    /// <summary>How many files find-duplicates hashes at once (NAS mounts answer faster with a few reads in flight).</summary>
    [Range(1, 64)]
    public int HashParallelism { get; set; } = 4;

    public TimeSpan RegexTimeout => TimeSpan.FromMilliseconds(RegexTimeoutMilliseconds);

    public TimeSpan PatternBudget => TimeSpan.FromMilliseconds(PatternBudgetMilliseconds);

    public TimeSpan LockWait => TimeSpan.FromMilliseconds(LockWaitMilliseconds);

    public TimeSpan LockLease => TimeSpan.FromMilliseconds(LockLeaseMilliseconds);
}
