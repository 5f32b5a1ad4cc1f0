using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.GalleryService.Gallery.Storage;

/// <summary>
/// Serialises the writers of one project's gallery: first inside this replica (a semaphore, so concurrent requests
/// do not all poll Redis), then across replicas with a Redis lock (<c>SET key token NX PX lease</c>, released by a
/// compare-and-delete script so a holder whose lease expired cannot free someone else's lock). Machines that do not
/// share this Redis are not stopped by it; <see cref="GalleryStore"/>'s file check catches them.
/// </summary>
public sealed class ProjectLock(IRedisConnection redis, IOptions<GalleryOptions> options, TimeProvider time, ILogger<ProjectLock> logger)
{
    private readonly IRedisConnection _redis = redis;
    private readonly ILogger<ProjectLock> _logger = logger;
    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    private readonly ConcurrentDictionary<string, SemaphoreSlim> _local = new(StringComparer.Ordinal);

    public static string KeyOf(string projectRoot) =>
        "dc:gallery:lock:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(projectRoot)))[..32];

    public async Task<IAsyncDisposable> AcquireAsync(string projectRoot, CancellationToken cancellationToken)
    {
        var wait = options.Value.LockWait;
        var local = _local.GetOrAdd(projectRoot, static _ => new SemaphoreSlim(1, 1));
        if (!await local.WaitAsync(wait, cancellationToken))
        {
            throw new GalleryBusyException($"The gallery of {projectRoot} stayed busy with other changes for {wait.TotalSeconds:0.#} s; try again.");
        }

        try
        {
            var key = KeyOf(projectRoot);
            var token = Guid.NewGuid().ToString("N");
            var deadline = time.GetUtcNow() + wait;
            var delay = 2;
            while (!await _redis.StringSetAsync(key, token, options.Value.LockLease, onlyIfNotExists: true, cancellationToken))
            {
                if (time.GetUtcNow() >= deadline)
                {
                    throw new GalleryBusyException(
                        $"Another replica held the gallery lock of {projectRoot} for more than {wait.TotalSeconds:0.#} s; try again.");
                }

                await Task.Delay(Random.Shared.Next(delay, delay * 2), cancellationToken);
                delay = Math.Min(delay * 2, 50);
            }

            return new Held(this, local, key, token);
        }
        catch
        {
            local.Release();
            throw;
        }
    }

    private sealed class Held(ProjectLock owner, SemaphoreSlim local, string key, string token) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await owner._redis.ScriptEvaluateAsync(ReleaseScript, [key], [token], CancellationToken.None);
            }
            catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException or RedisServerException)
            {
                // The lease ends the lock anyway; the change itself is already safely on disk.
                owner._logger.LogWarning(ex, "Could not release the gallery lock {Key}; it expires with its lease", key);
            }
            finally
            {
                local.Release();
            }
        }
    }
}
