using System.Reflection;

namespace DirectorsConsole.Hosting;

/// <summary>
/// How the embedded Garnet server is started: where its assembly is and which options it needs.
/// Garnet's defaults are sized for big servers (16 GB of log memory) and keep nothing on disk;
/// these options keep it small, persist every write to an append-only file under the data
/// directory before acknowledging it, and recover from it on the next start.
/// </summary>
/// <remarks>
/// Garnet's log memory (<c>--memory</c>) is a bound, not a cache size: without <c>--storage-tier</c> the records that
/// no longer fit are dropped from the server (they are still in the append-only file, so a restart brings them back,
/// but until then reads miss them). A suite that kept accepting jobs lost them after about 128 MB of data (some
/// 60,000 queued jobs). With a data directory the log is tiered to disk under it (<c>log/</c>): records that do not
/// fit in memory are read from there.
/// <para>Nothing shrinks the append-only file but a checkpoint: without one it grew with every write ever made, and a
/// restart replayed all of it. Garnet takes a checkpoint every <see cref="CheckpointInterval"/> and then drops the part
/// of the file the checkpoint covers (only the latest checkpoint is kept); the log tiered to disk is compacted as often,
/// once it spans more than <see cref="CompactAfterSegments"/> segments, and the checkpoint deletes the segments the
/// compaction emptied.</para>
/// </remarks>
public static class GarnetCommandLine
{
    /// <summary>How often Garnet checkpoints its data, bounding its append-only file to the writes of one interval
    /// (plus the segment being written) and a restart's replay to them.</summary>
    public static readonly TimeSpan CheckpointInterval = TimeSpan.FromMinutes(5);

    /// <summary>Log segments (64 MB each) on disk before a compaction copies the live records forward.</summary>
    public const int CompactAfterSegments = 8;

    /// <summary>
    /// Garnet's log memory. Once the log outgrows it, records are read from the disk tier, and the server slows by
    /// orders of magnitude: with 128 MB, <c>POST /api/job</c> straight to JobService went from about 1,900/s to 21/s
    /// within a minute once some 30,000 jobs were stored (Garnet at more than a core, too slow to answer <c>DBSIZE</c>
    /// in 5 s). With 1 GB the same load held 1,007–2,159/s (the lowest while warming up) up to 80,000 jobs. Pages are
    /// taken as the log grows: an idle Garnet stays at about 76 MB resident either way.
    /// </summary>
    public const string LogMemory = "1g";

    /// <summary>The GarnetServer.dll that the build downloaded (build/GarnetServer.targets).</summary>
    public static string LocateServerAssembly(Assembly? buildAssembly = null)
    {
        var recorded = (buildAssembly ?? Assembly.GetEntryAssembly() ?? typeof(GarnetCommandLine).Assembly)
            .GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "GarnetServerDll")?.Value;
        if (!string.IsNullOrEmpty(recorded) && File.Exists(recorded))
        {
            return recorded;
        }

        throw new FileNotFoundException(
            $"GarnetServer.dll was not found at '{recorded}'. Run 'dotnet restore' (the build downloads the " +
            "garnet-server package), or point ConnectionStrings__redis at an existing Redis.");
    }

    /// <summary>The runtime setting that stops the server's idle thread-pool workers spinning (the AppHost sets it 0).</summary>
    public const string SpinLimitVariable = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";

    /// <summary>Arguments for <c>dotnet GarnetServer.dll</c>. <paramref name="dataDirectory"/> holds the
    /// checkpoints, the append-only file and the part of the log that does not fit in memory; pass null for a
    /// throw-away in-memory server (tests), which holds at most its log memory.
    /// <paramref name="checkpointInterval"/> replaces <see cref="CheckpointInterval"/> (tests shorten it);
    /// <paramref name="logMemory"/> replaces <see cref="LogMemory"/> (a test of the log tiered to disk makes it small);
    /// <paramref name="commitFrequencyMilliseconds"/> replaces the commit at every write (a test that only the clients'
    /// commits make their writes durable sets a long one).</summary>
    public static IReadOnlyList<string> BuildArguments(
        string serverAssembly, int port, string? dataDirectory, TimeSpan? checkpointInterval = null, string logMemory = LogMemory,
        int commitFrequencyMilliseconds = 0)
    {
        var checkpointSeconds = Math.Max(1, (int)(checkpointInterval ?? CheckpointInterval).TotalSeconds)
            .ToString(System.Globalization.CultureInfo.InvariantCulture);
        var args = new List<string>
        {
            serverAssembly,
            "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--memory", logMemory, "--page", "1m", "--segment", "64m", "--object-log-segment", "64m",
            "--index", "4m",
            // Every store here relies on a script running as one step (check, then write), as Redis runs them;
            // Garnet interleaves scripts of different connections unless told to lock their keys.
            "--lua", "--lua-transaction-mode",
            // The native Linux device needs libaio, which a fresh Debian does not have.
            "--device-type", "RandomAccess",
            "--logger-level", "Warning",
        };
        if (dataDirectory is not null)
        {
            args.AddRange([
                // Records beyond the log memory go to disk instead of being dropped.
                "--storage-tier", "--logdir", Path.Combine(dataDirectory, "log"),
                "--aof", "--aof-memory", "16m", "--aof-page-size", "4m", "--aof-segment-size", "64m",
                // Each write is committed at once (frequency 0), but its reply does not wait for the commit: the
                // services' client sends COMMITAOF after its writes and goes on only once that is answered
                // (Redis:CommitWrites, which the AppHost sets for this server), so a write is acknowledged only once
                // it is in the file and a SIGKILL of the server loses nothing acknowledged. Garnet's own wait
                // (--aof-commit-wait) costs it a wait per write command, a script's included; COMMITAOF is one wait
                // for every write before it, of every client.
                "--aof-commit-freq", commitFrequencyMilliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "--recover", "--checkpointdir", dataDirectory,
                // A checkpoint at every interval truncates the append-only file up to it; the tiered log is compacted
                // (each record looked up for liveness, which needs no second index in memory) on the same clock.
                "--checkpoint-freq", checkpointSeconds,
                "--compaction-freq", checkpointSeconds, "--compaction-type", "Lookup",
                "--compaction-max-segments", CompactAfterSegments.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ]);
        }

        return args;
    }
}
