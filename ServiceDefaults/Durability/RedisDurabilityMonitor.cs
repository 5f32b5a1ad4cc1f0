using System.Globalization;
using System.Net;
using DirectorsConsole.ServiceDefaults.Configuration;
using DirectorsConsole.Messaging;
using DirectorsConsole.Messaging.Durability;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Durability;

/// <summary>
/// Closes the <see cref="DurabilityGate"/> while Redis cannot persist writes, and reopens it once what the server holds
/// in memory is saved. Each probe reads <c>INFO persistence</c> and the free space under the server's data directory:
/// <list type="bullet">
/// <item>Redis reports a failed append-only-file write as <c>aof_last_write_status:err</c> (and refuses writes with
/// <c>MISCONF</c>, which the client reports at once); it retries by itself once space is back.</item>
/// <item>Garnet accepts writes it cannot persist, logs the failure and reports nothing but a
/// <c>CommittedUntilAddress</c> that stops short of <c>TailAddress</c>; it never commits its append-only file again
/// in that process, even after space is freed. So the free-space threshold is what protects it: writes stop while
/// the server's disk still has room. Should the file stall anyway, one SAVE (a checkpoint of everything in memory)
/// keeps what was accepted for the restart that is then needed.</item>
/// </list>
/// </summary>
public sealed class RedisDurabilityMonitor(
    IRedisConnection redis,
    DurabilityGate gate,
    IOptions<DurabilityOptions> options,
    IOptions<OrchestratorOptions> orchestrator,
    TimeProvider timeProvider,
    ILogger<RedisDurabilityMonitor> logger) : BackgroundService
{
    // A SAVE of a large store can take a while; a probe that hangs longer than this is logged and the next one runs.
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(30);
    private const long Megabyte = 1024 * 1024;

    private readonly DurabilityOptions _options = options.Value;
    private AppendOnlyFilePosition? _lastPosition;
    private string? _dataDirectory;
    private bool _dataDirectoryLocated;
    private bool _stallCheckpointTaken;

    // On a busy machine a commit can lag a burst of writes by more than one probe; a real stall (Garnet after a full
    // disk) never recovers, so waiting for a few probes without progress costs nothing and avoids false alarms.
    private const int ProbesWithoutCommitBeforeStall = 5;
    private int _probesWithoutCommit;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.ProbeInterval, timeProvider);
        var failures = 0;
        try
        {
            do
            {
                using var timeout = new CancellationTokenSource(ProbeTimeout, timeProvider);
                using var probe = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
                try
                {
                    await ProbeOnceAsync(probe.Token);
                    failures = 0;
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    // Redis being unreachable is the Redis health check's to report; say it once per outage here.
                    logger.Log(failures++ == 0 ? LogLevel.Warning : LogLevel.Debug, ex,
                        "Checking that Redis persists writes failed{Reason}; trying again every {Interval}",
                        timeout.IsCancellationRequested ? $" (it took longer than {ProbeTimeout})" : "", _options.ProbeInterval);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>One look at the server: closes the gate naming every cause found, or saves and reopens it.</summary>
    public async Task ProbeOnceAsync(CancellationToken cancellationToken)
    {
        var info = ParseInfo(await redis.InfoAsync("persistence", cancellationToken));
        var causes = new List<string>();

        var redisAof = info.GetValueOrDefault("aof_enabled") == "1";
        if (redisAof && info.GetValueOrDefault("aof_last_write_status") == "err")
        {
            causes.Add("Redis could not write its append-only file (aof_last_write_status:err)");
        }

        var position = AppendOnlyFilePosition.Read(info);
        var noProgress = position is not null && _lastPosition is { } last
            && position.Committed == last.Committed && position.Committed < last.Tail;
        _lastPosition = position;
        _probesWithoutCommit = noProgress ? _probesWithoutCommit + 1 : 0;
        var stalled = _probesWithoutCommit >= ProbesWithoutCommitBeforeStall;
        if (stalled)
        {
            causes.Add($"Garnet stopped committing its append-only file at address {position!.Committed} " +
                $"({position.Tail - position.Committed} bytes accepted since are only in memory); " +
                "free space under its data directory and restart it");
        }
        else
        {
            _stallCheckpointTaken = false;
        }

        var diskFull = false;
        if (_options.MinFreeMegabytes > 0 && (redisAof || position is not null)
            && await LocateDataDirectoryAsync(cancellationToken) is { } directory)
        {
            var free = new DriveInfo(directory).AvailableFreeSpace;
            if (free < _options.MinFreeMegabytes * Megabyte)
            {
                diskFull = true;
                causes.Insert(0, $"only {FormatMegabytes(free)} MB is free under the Redis data directory {directory} " +
                    $"(writes stop below {_options.MinFreeMegabytes} MB so the server never meets a full disk)");
            }
        }

        if (causes.Count > 0)
        {
            gate.Close(string.Join("; ", causes));
            if (stalled && !diskFull && !_stallCheckpointTaken)
            {
                // Garnet's append-only file stays broken, but a checkpoint still lands once there is room: it keeps
                // what was accepted before the stall for the restart.
                _stallCheckpointTaken = true;
                await TrySaveAsync(cancellationToken);
            }

            return;
        }

        if (!gate.IsOpen)
        {
            // What was written while the file could not be (if anything slipped through) is only in memory: save it
            // before anything else is accepted.
            if (await TrySaveAsync(cancellationToken) is { } failure)
            {
                gate.Close($"persistence is back, but saving what Redis holds failed: {failure}");
                return;
            }

            gate.Open();
        }
    }

    private async Task<string?> TrySaveAsync(CancellationToken cancellationToken)
    {
        try
        {
            await redis.SaveAsync(cancellationToken);
            logger.LogInformation("Redis saved everything it holds (SAVE)");
            return null;
        }
        catch (RedisServerException ex)
        {
            logger.LogWarning("SAVE failed: {Error}", ex.Message);
            return ex.Message;
        }
    }

    /// <summary>The server's data directory when it is on this machine: the directory it reports (CONFIG GET dir) for
    /// a server on loopback, else the embedded server's <c>&lt;data_dir&gt;/redis</c>; null when neither is here.</summary>
    private async Task<string?> LocateDataDirectoryAsync(CancellationToken cancellationToken)
    {
        if (_dataDirectoryLocated)
        {
            return _dataDirectory;
        }

        string? reported = null;
        if (redis is RedisConnection connection && IsLoopback(connection.Endpoint))
        {
            try
            {
                reported = await redis.ConfigGetAsync("dir", cancellationToken);
            }
            catch (RedisServerException ex)
            {
                // Servers may disable CONFIG; the configured data directory is the fallback.
                logger.LogDebug("CONFIG GET dir was refused: {Error}", ex.Message);
            }
        }

        var embedded = Path.Combine(orchestrator.Value.DataDirectory, "redis");
        _dataDirectory = reported is not null && Directory.Exists(reported) ? reported
            : Directory.Exists(embedded) ? embedded
            : null;
        _dataDirectoryLocated = true;
        logger.LogInformation("Free space is watched under {Directory} (writes stop below {Megabytes} MB)",
            _dataDirectory ?? "(no local Redis data directory: not watched)", _options.MinFreeMegabytes);
        return _dataDirectory;
    }

    private static bool IsLoopback(string endpoint)
    {
        var host = endpoint[..endpoint.LastIndexOf(':')].Trim('[', ']');
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }

    private static string FormatMegabytes(long bytes) => (bytes / (double)Megabyte).ToString("0.#", CultureInfo.InvariantCulture);

    private static Dictionary<string, string> ParseInfo(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon > 0 && !line.StartsWith('#'))
            {
                fields[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        return fields;
    }

    /// <summary>Where Garnet's append-only file ends in memory (Tail) and on disk (Committed).</summary>
    private sealed record AppendOnlyFilePosition(long Committed, long Tail)
    {
        // Garnet reports N/A for both when it keeps no append-only file.
        public static AppendOnlyFilePosition? Read(Dictionary<string, string> info) =>
            long.TryParse(info.GetValueOrDefault("CommittedUntilAddress"), CultureInfo.InvariantCulture, out var committed)
            && long.TryParse(info.GetValueOrDefault("TailAddress"), CultureInfo.InvariantCulture, out var tail)
                ? new AppendOnlyFilePosition(committed, tail)
                : null;
    }
}
