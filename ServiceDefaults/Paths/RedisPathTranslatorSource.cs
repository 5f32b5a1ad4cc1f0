using System.ComponentModel.DataAnnotations;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Paths;

/// <summary>Gives a service the current <see cref="PathTranslator"/> without a Redis round trip per path.</summary>
public interface IPathTranslatorSource
{
    /// <summary>The translator from the last load: a change made elsewhere shows here within about a second
    /// (one pub/sub message and one read). Before the first load it maps nothing.</summary>
    PathTranslator Current { get; }

    /// <summary>A translator at least as new as the mappings in Redis now: one GET of the change counter, and a
    /// reload only when it moved. For callers that must see a change made a moment ago on another replica.</summary>
    Task<PathTranslator> GetFreshAsync(CancellationToken cancellationToken);
}

public sealed class PathTranslationOptions
{
    public const string SectionName = "PathTranslation";

    /// <summary>How often the mappings are re-read even when no change event arrived, as a safety net for an
    /// event lost while the subscriber was reconnecting.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Keeps a <see cref="PathTranslator"/> built from the mappings in Redis: loads them at start, reloads on every
/// <see cref="PathMappingsChanged"/> event, after the subscription is re-established (events may have been
/// missed while disconnected) and every <see cref="PathTranslationOptions.ReloadInterval"/>.
/// </summary>
public sealed class RedisPathTranslatorSource(
    IRedisConnection redis,
    IEventBus eventBus,
    IOptions<PathTranslationOptions> options,
    TimeProvider timeProvider,
    ILogger<RedisPathTranslatorSource> logger) : BackgroundService, IPathTranslatorSource
{
    private const long NeverLoaded = -1;

    private static readonly TimeSpan MaxSubscribeDelay = TimeSpan.FromSeconds(10);

    private readonly SemaphoreSlim _reloadGate = new(1, 1);

    // Replaced whole, so a reader always sees a translator and the version it was loaded at together.
    private volatile Loaded _loaded = new(NeverLoaded, PathTranslator.Empty);

    public PathTranslator Current => _loaded.Translator;

    public async Task<PathTranslator> GetFreshAsync(CancellationToken cancellationToken)
    {
        var version = await redis.ReadPathMappingsVersionAsync(cancellationToken).ConfigureAwait(false);
        var loaded = _loaded;
        return loaded.Version == version ? loaded.Translator : await ReloadAsync(version, cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        IAsyncDisposable? subscription = null;
        try
        {
            subscription = await SubscribeAsync(stoppingToken).ConfigureAwait(false);
            await TryReloadAsync("start", stoppingToken).ConfigureAwait(false);
            using var timer = new PeriodicTimer(options.Value.ReloadInterval, timeProvider);
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await TryReloadAsync("periodic check", stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping.
        }
        finally
        {
            if (subscription is not null)
            {
                await subscription.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        _reloadGate.Dispose();
    }

    // Subscribing fails while Redis is unreachable; keep trying, since without the subscription the
    // translator would only follow changes at the periodic check.
    private async Task<IAsyncDisposable> SubscribeAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (true)
        {
            try
            {
                return await eventBus.SubscribeAsync<PathMappingsChanged>(
                    PathMappingKeys.ChangesChannel,
                    (change, ct) => TryReloadAsync($"{change.Change} {change.Id}".TrimEnd(), ct),
                    ct => TryReloadAsync("re-subscribed", ct),
                    stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Could not subscribe to {Channel}; retrying in {Delay}", PathMappingKeys.ChangesChannel, delay);
                await Task.Delay(delay, timeProvider, stoppingToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxSubscribeDelay.Ticks));
            }
        }
    }

    private async Task TryReloadAsync(string reason, CancellationToken cancellationToken)
    {
        try
        {
            await ReloadAsync(knownVersion: null, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Could not reload the path mappings ({Reason}); keeping the {Count} loaded before",
                reason, _loaded.Translator.Mappings.Count);
        }
    }

    // One load at a time, so an older read can never replace a newer one. A caller that waited for the gate
    // while another caller loaded the version it wanted takes that result instead of reading again.
    private async Task<PathTranslator> ReloadAsync(long? knownVersion, CancellationToken cancellationToken)
    {
        await _reloadGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var previous = _loaded;
            if (knownVersion is { } wanted && previous.Version == wanted)
            {
                return previous.Translator;
            }

            var snapshot = await redis.ReadPathMappingsAsync(cancellationToken).ConfigureAwait(false);
            var translator = new PathTranslator(snapshot.Mappings);
            _loaded = new Loaded(snapshot.Version, translator);
            if (snapshot.Version != previous.Version)
            {
                logger.LogInformation("Loaded {Count} path mappings (version {Version})", snapshot.Mappings.Count, snapshot.Version);
                foreach (var problem in snapshot.Problems.Concat(translator.Problems))
                {
                    logger.LogWarning("Ignored part of a stored path mapping: {Problem}", problem);
                }
            }

            return translator;
        }
        finally
        {
            _reloadGate.Release();
        }
    }

    private sealed record Loaded(long Version, PathTranslator Translator);
}
