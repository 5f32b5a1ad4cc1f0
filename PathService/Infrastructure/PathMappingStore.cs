using System.Text.Json;
using DirectorsConsole.ServiceDefaults.Paths;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.PathService.Infrastructure;

public enum PathMappingWriteStatus
{
    Saved,
    NotFound,
    IdTaken,
}

/// <summary>
/// The path mappings in Redis (layout in <see cref="PathMappingKeys"/>). Nothing is kept in memory, so any
/// number of replicas can serve the API. Each write is one Lua script that checks, writes the mapping and bumps
/// the version together; every change is then announced on <see cref="PathMappingKeys.ChangesChannel"/>. Every
/// script is sent again when Redis restarts before its reply arrives, and answers the second time as it did the
/// first (see each script).
/// Names need not be unique: the web app names a new mapping "Mapping N" after the count of mappings, which
/// repeats a name after a delete, and renames on every keystroke.
/// </summary>
public sealed class PathMappingStore(
    IRedisConnection redis, IEventBus eventBus, TimeProvider timeProvider, ILogger<PathMappingStore> logger)
{
    // KEYS: mappings, version. ARGV: id, mapping JSON, "create" or "update". An update writes the whole mapping, so
    // running it twice leaves what once did. A create that finds exactly the mapping it writes under its id is itself
    // sent again (new mappings get fresh random ids; an imported entry found again is that same entry), so it answers
    // 'saved'. Both bump the version again: a second bump only makes readers reload, and it may be the one a server
    // killed mid-script did not keep.
    private const string SaveScript = """
        local current = redis.call('HGET', KEYS[1], ARGV[1])
        if ARGV[3] == 'create' and current and current ~= ARGV[2] then return 'id-taken' end
        if ARGV[3] == 'update' and not current then return 'not-found' end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('INCR', KEYS[2])
        return 'saved'
        """;

    // KEYS: mappings, version, the id's delete marker. ARGV: id, this delete's token, marker lifetime in ms. The
    // marker is written before the mapping goes, so a delete sent again that finds the mapping gone and its own token
    // there was carried out (and bumps the version again in case that was what a killed server lost).
    private const string DeleteScript = """
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
          if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 'not-found' end
        else
          redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
          redis.call('HDEL', KEYS[1], ARGV[1])
        end
        redis.call('INCR', KEYS[2])
        return 'deleted'
        """;

    // Longer than any outage a resent delete can wait out.
    private static readonly TimeSpan DeleteMarkerLifetime = TimeSpan.FromDays(1);

    private static readonly string[] Keys = [PathMappingKeys.Mappings, PathMappingKeys.Version];

    public async Task<IReadOnlyList<PathMapping>> ListAsync(CancellationToken cancellationToken) =>
        (await redis.ReadPathMappingsAsync(cancellationToken)).Mappings;

    public async Task<PathMapping?> FindAsync(string id, CancellationToken cancellationToken) =>
        await redis.HashGetAsync(PathMappingKeys.Mappings, id, cancellationToken) is { } json
            ? JsonSerializer.Deserialize<PathMapping>(json, PathMappingRedis.Json)
            : null;

    public async Task<PathMappingWriteStatus> CreateAsync(PathMapping mapping, CancellationToken cancellationToken)
    {
        var result = await SaveAsync(mapping, "create", cancellationToken);
        await AnnounceAsync(result, PathMappingChangeKinds.Created, mapping.Id, cancellationToken);
        return result;
    }

    public async Task<PathMappingWriteStatus> UpdateAsync(PathMapping mapping, CancellationToken cancellationToken)
    {
        var result = await SaveAsync(mapping, "update", cancellationToken);
        await AnnounceAsync(result, PathMappingChangeKinds.Updated, mapping.Id, cancellationToken);
        return result;
    }

    /// <summary>Adds one imported mapping without announcing it; the importer announces the whole import once.</summary>
    public Task<PathMappingWriteStatus> AddImportedAsync(PathMapping mapping, CancellationToken cancellationToken) =>
        SaveAsync(mapping, "create", cancellationToken);

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        var reply = await redis.ScriptEvaluateAsync(
            DeleteScript,
            [PathMappingKeys.Mappings, PathMappingKeys.Version, PathMappingKeys.Deleted(id)],
            [id, Guid.NewGuid().ToString("N"), (long)DeleteMarkerLifetime.TotalMilliseconds],
            OnLostReply.Resend,
            cancellationToken);
        var deleted = reply.AsString() == "deleted";
        if (deleted)
        {
            await AnnounceAsync(PathMappingChangeKinds.Deleted, id, cancellationToken);
        }

        return deleted;
    }

    /// <summary>Tells other services' translators to reload.</summary>
    public async Task AnnounceAsync(string change, string? id, CancellationToken cancellationToken)
    {
        try
        {
            await eventBus.PublishAsync(PathMappingKeys.ChangesChannel, new PathMappingsChanged(change, id, timeProvider.GetUtcNow()), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The change itself is saved; failing the request now would make the caller retry a write that
            // succeeded. Readers still see it: PathService checks the version on every translation, the others
            // at their periodic reload.
            logger.LogWarning(ex, "Saved a path mapping change ({Change} {Id}) but could not announce it", change, id);
        }
    }

    private async Task<PathMappingWriteStatus> SaveAsync(PathMapping mapping, string mode, CancellationToken cancellationToken)
    {
        var reply = await redis.ScriptEvaluateAsync(
            SaveScript, Keys, [mapping.Id, PathMappingRedis.Serialize(mapping), mode], OnLostReply.Resend, cancellationToken);
        var answer = reply.AsString() ?? string.Empty;
        return answer switch
        {
            "saved" => PathMappingWriteStatus.Saved,
            "id-taken" => PathMappingWriteStatus.IdTaken,
            "not-found" => PathMappingWriteStatus.NotFound,
            _ => throw new InvalidOperationException($"The path mapping save script answered '{answer}'."),
        };
    }

    private Task AnnounceAsync(PathMappingWriteStatus result, string change, string id, CancellationToken cancellationToken) =>
        result == PathMappingWriteStatus.Saved ? AnnounceAsync(change, id, cancellationToken) : Task.CompletedTask;
}
