using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.GalleryService.Gallery.Storage;

/// <summary>
/// Serialises the writers of one project's gallery: first inside this replica (a semaphore, so concurrent requests
/// do not all poll Redis), then across replicas with a Redis lock: a key holding the holder's random token with a
/// lease, taken by a script that also recognises its own token, and released by a compare-and-delete script so a
/// holder whose lease expired cannot free someone else's lock. Both are sent again when Redis restarts before their
/// reply arrives (see <see cref="AcquireScript"/>). Machines that do not share this Redis are not stopped by it;
/// <see cref="GalleryStore"/>'s file check catches them.
/// </summary>
public sealed class ProjectLock(IRedisConnection redis, IOptions<GalleryOptions> options, TimeProvider time, ILogger<ProjectLock> logger)
{
    private readonly IRedisConnection _redis = redis;
    private readonly ILogger<ProjectLock> _logger = logger;
    // KEYS: lock. ARGV: token, lease in ms. Takes a free lock, or renews it when it already holds this token: an
    // acquire whose reply was lost and that is sent again finds its own token and holds the lock, rather than waiting
    // for its own lease to run out as a plain SET NX would.
    private const string AcquireScript = """
        local holder = redis.call('GET', KEYS[1])
        if holder and holder ~= ARGV[1] then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """;

    // KEYS: lock. ARGV: token. Sent again after a lost reply too: a second run finds the lock gone (or another
    // holder's) and deletes nothing.
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
            var leaseMilliseconds = (long)options.Value.LockLease.TotalMilliseconds;
            while ((await _redis.ScriptEvaluateAsync(AcquireScript, [key], [token, leaseMilliseconds], OnLostReply.Resend, cancellationToken)).AsInt64() != 1)
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
                await owner._redis.ScriptEvaluateAsync(ReleaseScript, [key], [token], OnLostReply.Resend, CancellationToken.None);
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
