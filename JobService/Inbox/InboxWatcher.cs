using System.Text.Json;
using DirectorsConsole.JobService.Apis;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Configuration;
using DirectorsConsole.ServiceDefaults.Paths;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Inbox;

/// <summary>
/// Submits the job manifests (<see cref="InboxManifest"/>) dropped into the inbox folder. The folder is polled, since
/// FileSystemWatcher misses changes on network mounts. A file is read once its size and modification time have stayed
/// the same for <see cref="InboxOptions.SettleTime"/> (dotfiles and <c>.tmp</c> files are skipped, so writers can write
/// a temporary name and rename it). Replicas sharing the folder claim a file by renaming it into <c>processing/</c>,
/// which only one of them can do; it then moves to <c>processed/&lt;job_id&gt;__&lt;name&gt;</c>, or to
/// <c>failed/&lt;name&gt;</c> with <c>failed/&lt;stem&gt;.error.txt</c> saying why. A manifest that met an outage of
/// the job store goes back into the inbox and is tried again.
/// </summary>
public sealed class InboxWatcher(
    IJobEngine engine,
    PromptPreparation prompts,
    IOptions<InboxOptions> options,
    IOptions<OrchestratorOptions> orchestrator,
    TimeProvider time,
    ILogger<InboxWatcher> logger) : BackgroundService
{
    public const string ProcessingFolder = "processing";
    public const string ProcessedFolder = "processed";
    public const string FailedFolder = "failed";
    private const string ClaimSeparator = "__";

    private readonly InboxOptions _options = options.Value;
    private readonly Dictionary<string, Observation> _observed = new(StringComparer.Ordinal);

    /// <summary>The resolved inbox folder; null when the inbox is off.</summary>
    public string? Directory { get; } = options.Value.ConfiguredPath is { } path ? orchestrator.Value.Resolve(path) : null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Directory is null)
        {
            return;
        }

        logger.LogInformation("Watching the inbox {Directory} every {Interval}", Directory, _options.PollInterval);
        using var timer = new PeriodicTimer(_options.PollInterval, time);
        try
        {
            do
            {
                using var timeout = new CancellationTokenSource(_options.Timeout, time);
                using var pass = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
                try
                {
                    await ScanOnceAsync(pass.Token);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning(ex, "A pass over the inbox {Directory} failed{Reason}; trying again in {Interval}",
                        Directory, timeout.IsCancellationRequested ? $" (it took longer than {_options.Timeout})" : "", _options.PollInterval);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>One look at the folder: manifests that have settled are claimed and submitted; returns how many were
    /// handled (submitted or failed) by this replica.</summary>
    public async Task<int> ScanOnceAsync(CancellationToken cancellationToken)
    {
        if (Directory is null)
        {
            return 0;
        }

        foreach (var folder in new[] { Directory, Path.Combine(Directory, ProcessingFolder), Path.Combine(Directory, ProcessedFolder), Path.Combine(Directory, FailedFolder) })
        {
            System.IO.Directory.CreateDirectory(folder);
        }

        var now = time.GetUtcNow();
        ReleaseExpiredClaims(now);
        var handled = 0;
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.json"))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var name = Path.GetFileName(file);
            if (name.StartsWith('.') || name.EndsWith(".tmp", StringComparison.OrdinalIgnoreCase) || !name.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            present.Add(name);
            var info = new FileInfo(file);
            if (!info.Exists)
            {
                continue;
            }

            var stamp = new FileStamp(info.Length, info.LastWriteTimeUtc);
            if (!_observed.TryGetValue(name, out var observation) || observation.Stamp != stamp)
            {
                observation = new Observation(stamp, now);
                _observed[name] = observation;
            }

            if (now - observation.Since < _options.SettleTime)
            {
                continue;
            }

            _observed.Remove(name);
            if (await ProcessAsync(file, name, now, cancellationToken))
            {
                handled++;
            }
        }

        foreach (var gone in _observed.Keys.Where(name => !present.Contains(name)).ToArray())
        {
            _observed.Remove(gone);
        }

        return handled;
    }

    private async Task<bool> ProcessAsync(string file, string name, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // A name other hosts of the share cannot use is refused, and its file kept under a name they can.
        var nameProblem = PortableFileName.Problem(name);
        var originalName = name;
        if (nameProblem is not null)
        {
            name = PortableFileName.Replacement(name);
        }

        var claimed = Path.Combine(Directory!, ProcessingFolder, $"{Guid.NewGuid():N}{ClaimSeparator}{name}");
        try
        {
            File.Move(file, claimed);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            logger.LogDebug("Inbox manifest {Name} was claimed by another replica ({Reason})", name, ex.Message);
            return false;
        }

        // The claim's age is measured from now, whatever time the writer left on the file.
        File.SetLastWriteTimeUtc(claimed, now.UtcDateTime);
        if (nameProblem is not null)
        {
            Fail(claimed, name, now, [$"the file name {JsonSerializer.Serialize(originalName)} cannot be used in a folder shared with other systems: {nameProblem}; the file was renamed {name}"]);
            return true;
        }

        try
        {
            var text = await File.ReadAllTextAsync(claimed, cancellationToken);
            var (submission, problems) = await InboxManifest.PrepareAsync(text, name, prompts, cancellationToken);
            if (submission is null)
            {
                Fail(claimed, name, now, problems);
                return true;
            }

            var job = await engine.SubmitJobAsync(submission, cancellationToken);
            File.Move(claimed, Path.Combine(Directory!, ProcessedFolder, $"{job.JobId}{ClaimSeparator}{name}"), overwrite: true);
            logger.LogInformation("Inbox manifest {Name} submitted as job {JobId}", name, job.JobId);
            if (submission.IgnoredParameters.Count > 0)
            {
                logger.LogWarning("Inbox manifest {Name} (job {JobId}) has parameters that changed nothing: {Ignored}",
                    name, job.JobId, string.Join("; ", submission.IgnoredParameters));
            }

            return true;
        }
        catch (Exception ex) when (ex is OperationCanceledException or RedisUnavailableException)
        {
            // Not the manifest's fault: give it back so this or another replica tries again.
            Release(claimed, name);
            throw;
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Inbox manifest {Name} could not be submitted", name);
            Fail(claimed, name, now, [$"the job could not be submitted: {ex.Message}"]);
            return true;
        }
    }

    private void Fail(string claimed, string name, DateTimeOffset now, IReadOnlyList<string> problems)
    {
        var failed = Path.Combine(Directory!, FailedFolder);
        // An earlier failure of a file with the same name is kept: the newer one gets a time prefix.
        var prefix = File.Exists(Path.Combine(failed, name)) ? $"{now.UtcDateTime:yyyyMMdd'T'HHmmssfff'Z'}{ClaimSeparator}" : "";
        var target = Path.Combine(failed, prefix + name);
        File.WriteAllText(
            Path.Combine(failed, prefix + Path.GetFileNameWithoutExtension(name) + ".error.txt"),
            $"{name} was not submitted ({now.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}):\n" + string.Concat(problems.Select(p => $"- {p}\n")));
        File.Move(claimed, target, overwrite: true);
        logger.LogWarning("Inbox manifest {Name} failed and was moved to {Target}: {Problems}", name, target, string.Join("; ", problems));
    }

    private void Release(string claimed, string name)
    {
        try
        {
            File.Move(claimed, Path.Combine(Directory!, name));
        }
        catch (IOException ex)
        {
            logger.LogWarning("Inbox manifest {Name} stays in {Claimed} until its claim expires: {Reason}", name, claimed, ex.Message);
        }
    }

    /// <summary>Claims older than <see cref="InboxOptions.ClaimExpiry"/> belong to a replica that stopped mid-way.</summary>
    private void ReleaseExpiredClaims(DateTimeOffset now)
    {
        foreach (var claimed in System.IO.Directory.EnumerateFiles(Path.Combine(Directory!, ProcessingFolder)))
        {
            var fileName = Path.GetFileName(claimed);
            var separator = fileName.IndexOf(ClaimSeparator, StringComparison.Ordinal);
            if (separator < 0 || now.UtcDateTime - File.GetLastWriteTimeUtc(claimed) < _options.ClaimExpiry)
            {
                continue;
            }

            var name = fileName[(separator + ClaimSeparator.Length)..];
            logger.LogWarning("Inbox manifest {Name} was claimed more than {Expiry} ago and never finished; putting it back", name, _options.ClaimExpiry);
            Release(claimed, name);
        }
    }

    private readonly record struct FileStamp(long Length, DateTime Modified);

    private readonly record struct Observation(FileStamp Stamp, DateTimeOffset Since);
}
