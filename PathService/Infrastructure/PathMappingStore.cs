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
/// the version together; every change is then announced on <see cref="PathMappingKeys.ChangesChannel"/>.
/// Names need not be unique: the web app names a new mapping "Mapping N" after the count of mappings, which
/// repeats a name after a delete, and renames on every keystroke.
/// </summary>
public sealed class PathMappingStore(
    IRedisConnection redis, IEventBus eventBus, TimeProvider timeProvider, ILogger<PathMappingStore> logger)
{
    // KEYS: mappings, version. ARGV: id, mapping JSON, "create" or "update".
    private const string SaveScript = """
        local exists = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
        if ARGV[3] == 'create' and exists then return 'id-taken' end
        if ARGV[3] == 'update' and not exists then return 'not-found' end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('INCR', KEYS[2])
        return 'saved'
        """;

    // KEYS: mappings, version. ARGV: id.
    private const string DeleteScript = """
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 'not-found' end
        redis.call('INCR', KEYS[2])
        return 'deleted'
        """;

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
        var reply = await redis.ScriptEvaluateAsync(DeleteScript, Keys, [id], cancellationToken);
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
        var reply = await redis.ScriptEvaluateAsync(SaveScript, Keys, [mapping.Id, PathMappingRedis.Serialize(mapping), mode], cancellationToken);
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
