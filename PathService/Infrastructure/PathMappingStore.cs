using System.Text.Json;
using DirectorsConsole.ServiceDefaults.Paths;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.PathService.Infrastructure;

public enum PathMappingWriteStatus
{
    Saved,
    NotFound,
    IdTaken,
    NameTaken,
}

/// <summary>The outcome of a write; <paramref name="ConflictingId"/> is the mapping that already has the name.</summary>
public sealed record PathMappingWriteResult(PathMappingWriteStatus Status, string? ConflictingId = null);

/// <summary>
/// The path mappings in Redis (layout in <see cref="PathMappingKeys"/>). Nothing is kept in memory, so any
/// number of replicas can serve the API. Each write is one Lua script that checks, writes the mapping, keeps
/// the name index and bumps the version together, so two replicas cannot both take a name; every change is
/// then announced on <see cref="PathMappingKeys.ChangesChannel"/>.
/// </summary>
public sealed class PathMappingStore(
    IRedisConnection redis, IEventBus eventBus, TimeProvider timeProvider, ILogger<PathMappingStore> logger)
{
    // KEYS: mappings, names, version. ARGV: id, mapping JSON, name key, "create" or "update".
    // A name owned by an id that no longer exists is stale and is taken over.
    private const string SaveScript = """
        local exists = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
        if ARGV[4] == 'create' and exists then return 'id-taken' end
        if ARGV[4] == 'update' and not exists then return 'not-found' end
        local owner = redis.call('HGET', KEYS[2], ARGV[3])
        if owner and owner ~= ARGV[1] and redis.call('HEXISTS', KEYS[1], owner) == 1 then return 'name-taken:' .. owner end
        local names = redis.call('HGETALL', KEYS[2])
        for i = 1, #names, 2 do
          if names[i + 1] == ARGV[1] and names[i] ~= ARGV[3] then redis.call('HDEL', KEYS[2], names[i]) end
        end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
        redis.call('INCR', KEYS[3])
        return 'saved'
        """;

    // KEYS: mappings, names, version. ARGV: id.
    private const string DeleteScript = """
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 'not-found' end
        local names = redis.call('HGETALL', KEYS[2])
        for i = 1, #names, 2 do
          if names[i + 1] == ARGV[1] then redis.call('HDEL', KEYS[2], names[i]) end
        end
        redis.call('INCR', KEYS[3])
        return 'deleted'
        """;

    private const string NameTakenAnswer = "name-taken:";

    private static readonly string[] Keys = [PathMappingKeys.Mappings, PathMappingKeys.Names, PathMappingKeys.Version];

    public async Task<IReadOnlyList<PathMapping>> ListAsync(CancellationToken cancellationToken) =>
        (await redis.ReadPathMappingsAsync(cancellationToken)).Mappings;

    public async Task<PathMapping?> FindAsync(string id, CancellationToken cancellationToken) =>
        await redis.HashGetAsync(PathMappingKeys.Mappings, id, cancellationToken) is { } json
            ? JsonSerializer.Deserialize<PathMapping>(json, PathMappingRedis.Json)
            : null;

    public async Task<PathMappingWriteResult> CreateAsync(PathMapping mapping, CancellationToken cancellationToken)
    {
        var result = await SaveAsync(mapping, "create", cancellationToken);
        await AnnounceAsync(result, PathMappingChangeKinds.Created, mapping.Id, cancellationToken);
        return result;
    }

    public async Task<PathMappingWriteResult> UpdateAsync(PathMapping mapping, CancellationToken cancellationToken)
    {
        var result = await SaveAsync(mapping, "update", cancellationToken);
        await AnnounceAsync(result, PathMappingChangeKinds.Updated, mapping.Id, cancellationToken);
        return result;
    }

    /// <summary>Adds one imported mapping without announcing it; the importer announces the whole import once.</summary>
    public Task<PathMappingWriteResult> AddImportedAsync(PathMapping mapping, CancellationToken cancellationToken) =>
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

    private async Task<PathMappingWriteResult> SaveAsync(PathMapping mapping, string mode, CancellationToken cancellationToken)
    {
        var reply = await redis.ScriptEvaluateAsync(
            SaveScript, Keys, [mapping.Id, PathMappingRedis.Serialize(mapping), PathMappingKeys.NameKey(mapping.Name), mode], cancellationToken);
        var answer = reply.AsString() ?? string.Empty;
        return answer switch
        {
            "saved" => new PathMappingWriteResult(PathMappingWriteStatus.Saved),
            "id-taken" => new PathMappingWriteResult(PathMappingWriteStatus.IdTaken, mapping.Id),
            "not-found" => new PathMappingWriteResult(PathMappingWriteStatus.NotFound),
            _ when answer.StartsWith(NameTakenAnswer, StringComparison.Ordinal) =>
                new PathMappingWriteResult(PathMappingWriteStatus.NameTaken, answer[NameTakenAnswer.Length..]),
            _ => throw new InvalidOperationException($"The path mapping save script answered '{answer}'."),
        };
    }

    private Task AnnounceAsync(PathMappingWriteResult result, string change, string id, CancellationToken cancellationToken) =>
        result.Status == PathMappingWriteStatus.Saved ? AnnounceAsync(change, id, cancellationToken) : Task.CompletedTask;
}
