using System.Text.Json;
using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.BackendService.Infrastructure;

public enum BackendWriteStatus
{
    Saved,
    NotFound,
    IdTaken,
}

/// <summary>
/// The registered backends, in Redis (<see cref="BackendKeys.Definitions"/>) and nothing in memory, so every
/// replica sees the same registry. Writes that must check and change together are single Lua scripts; every
/// change is announced on <see cref="BackendKeys.RegistryChanges"/> so lease holders react at once. The writes a
/// client makes through the API are sent again when Redis restarts before their reply arrives, and answer the second
/// time as they did the first: creates and deletes recognise their own token (<see cref="BackendKeys.LastChange"/>),
/// an update writes a whole definition, and enabling or disabling is a compare-and-set its loop repeats.
/// </summary>
public sealed class BackendRegistry(IRedisConnection redis, IEventBus eventBus, TimeProvider timeProvider, ILogger<BackendRegistry> logger)
{
    // KEYS: definitions, deleted seeds, retiring, the id's last change. ARGV: id, JSON, this create's token, token
    // lifetime in ms. A backend added again under the id of one still retiring takes over its prompts in flight.
    // The token is written first and the definition last (a server killed mid-script may keep only the first
    // commands): a create sent again that finds the backend and its own token was carried out whole.
    private const string CreateScript = """
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
          if redis.call('GET', KEYS[4]) == ARGV[3] then return 'saved' end
          return 'id-taken'
        end
        redis.call('SET', KEYS[4], ARGV[3], 'PX', ARGV[4])
        redis.call('SREM', KEYS[2], ARGV[1])
        redis.call('HDEL', KEYS[3], ARGV[1])
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        return 'saved'
        """;

    // KEYS: definitions. ARGV: id, JSON.
    private const string UpdateScript = """
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'not-found' end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        return 'saved'
        """;

    // KEYS: definitions. ARGV: id, expected JSON, new JSON. Compare-and-set for read-modify-write changes.
    private const string ReplaceScript = """
        local current = redis.call('HGET', KEYS[1], ARGV[1])
        if not current then return 'not-found' end
        if current ~= ARGV[2] then return 'changed' end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
        return 'saved'
        """;

    // KEYS: definitions, deleted seeds, retiring. ARGV: id, JSON. A seed never overwrites, nor revives a deleted one.
    private const string SeedScript = """
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'exists' end
        if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 'deleted' end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('HDEL', KEYS[3], ARGV[1])
        return 'saved'
        """;

    // KEYS: definitions, states, statuses, in-flight, retiring. ARGV: id, the definition JSON that was read. Removes
    // it only if unchanged; one with prompts in flight retires (see BackendKeys.Retiring) instead of vanishing.
    private const string RemoveIfUnchangedScript = """
        if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 'changed' end
        redis.call('HDEL', KEYS[1], ARGV[1])
        if redis.call('HLEN', KEYS[4]) > 0 then
          redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
        else
          redis.call('HDEL', KEYS[2], ARGV[1])
          redis.call('HDEL', KEYS[3], ARGV[1])
        end
        return 'deleted'
        """;

    // KEYS: definitions, deleted seeds, states, statuses, in-flight, retiring, the id's last change. ARGV: id, this
    // delete's token, token lifetime in ms. As for a create, the token goes first and the definition last: a delete
    // sent again that finds the backend gone and its own token there was carried out whole.
    private const string DeleteScript = """
        local current = redis.call('HGET', KEYS[1], ARGV[1])
        if not current then
          if redis.call('GET', KEYS[7]) == ARGV[2] then return 'deleted' end
          return 'not-found'
        end
        redis.call('SET', KEYS[7], ARGV[2], 'PX', ARGV[3])
        if redis.call('HLEN', KEYS[5]) > 0 then
          redis.call('HSET', KEYS[6], ARGV[1], current)
        else
          redis.call('HDEL', KEYS[3], ARGV[1])
          redis.call('HDEL', KEYS[4], ARGV[1])
        end
        if not string.find(current, '"source":"api"', 1, true) then redis.call('SADD', KEYS[2], ARGV[1]) end
        redis.call('HDEL', KEYS[1], ARGV[1])
        return 'deleted'
        """;

    // KEYS: definitions, states, statuses, in-flight, retiring. ARGV: id. Ends a retirement once nothing is in flight.
    private const string CompleteRetirementScript = """
        if redis.call('HLEN', KEYS[4]) > 0 then return 0 end
        redis.call('HDEL', KEYS[5], ARGV[1])
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
          redis.call('HDEL', KEYS[2], ARGV[1])
          redis.call('HDEL', KEYS[3], ARGV[1])
        end
        return 1
        """;

    private const int MaxReplaceAttempts = 10;

    // Longer than any outage a resent create or delete can wait out.
    private static readonly TimeSpan ChangeTokenLifetime = TimeSpan.FromDays(1);

    /// <summary>The stored JSON: snake_case like the API (<c>source</c> as <c>config|environment|api</c>).</summary>
    public static JsonSerializerOptions Json => BackendDirectory.Json;

    public static string Serialize(BackendDefinition backend) => JsonSerializer.Serialize(backend, Json);

    /// <summary>Every backend, ordered by id. Entries that cannot be read are logged and left out.</summary>
    public async Task<IReadOnlyList<BackendDefinition>> ListAsync(CancellationToken cancellationToken)
    {
        var stored = await redis.HashGetAllAsync(BackendKeys.Definitions, cancellationToken);
        var backends = new List<BackendDefinition>(stored.Count);
        foreach (var (id, json) in stored)
        {
            if (Deserialize(id, json) is { } backend)
            {
                backends.Add(backend);
            }
        }

        backends.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        return backends;
    }

    /// <summary>Backends deleted while prompts were in flight on them (<see cref="BackendKeys.Retiring"/>), ordered by id.</summary>
    public async Task<IReadOnlyList<BackendDefinition>> ListRetiringAsync(CancellationToken cancellationToken)
    {
        var stored = await redis.HashGetAllAsync(BackendKeys.Retiring, cancellationToken);
        return stored.Select(entry => Deserialize(entry.Key, entry.Value)).OfType<BackendDefinition>().OrderBy(b => b.Id, StringComparer.Ordinal).ToArray();
    }

    /// <summary>Ends the retirement of a deleted backend once no prompt is in flight on it; false while some are.</summary>
    public async Task<bool> CompleteRetirementAsync(string id, CancellationToken cancellationToken)
    {
        var reply = await redis.ScriptEvaluateAsync(
            CompleteRetirementScript,
            [BackendKeys.Definitions, BackendKeys.States, BackendKeys.Statuses, BackendKeys.InFlight(id), BackendKeys.Retiring],
            [id],
            cancellationToken);
        return reply.AsInt64() == 1;
    }

    public async Task<BackendDefinition?> FindAsync(string id, CancellationToken cancellationToken) =>
        await redis.HashGetAsync(BackendKeys.Definitions, id, cancellationToken) is { } json ? Deserialize(id, json) : null;

    /// <summary>Adds a backend; <see cref="BackendWriteStatus.IdTaken"/> when the id exists. Clears the id's tombstone.</summary>
    public async Task<BackendWriteStatus> CreateAsync(BackendDefinition backend, CancellationToken cancellationToken)
    {
        var reply = await redis.ScriptEvaluateAsync(
            CreateScript,
            [BackendKeys.Definitions, BackendKeys.DeletedSeeds, BackendKeys.Retiring, BackendKeys.LastChange(backend.Id)],
            [backend.Id, Serialize(backend), NewChangeToken(), (long)ChangeTokenLifetime.TotalMilliseconds],
            OnLostReply.Resend,
            cancellationToken);
        var status = Parse(reply.AsString());
        await AnnounceAsync(status, BackendRegistryChangeKinds.Created, backend.Id, cancellationToken);
        return status;
    }

    /// <summary>Replaces an existing backend's definition.</summary>
    public async Task<BackendWriteStatus> UpdateAsync(BackendDefinition backend, CancellationToken cancellationToken)
    {
        // Writes the whole definition, so sending it again after a lost reply leaves what the first did.
        var reply = await redis.ScriptEvaluateAsync(UpdateScript, [BackendKeys.Definitions], [backend.Id, Serialize(backend)], OnLostReply.Resend, cancellationToken);
        var status = Parse(reply.AsString());
        await AnnounceAsync(status, BackendRegistryChangeKinds.Updated, backend.Id, cancellationToken);
        return status;
    }

    /// <summary>Sets <c>enabled</c> without losing a concurrent change to the other fields; null when the
    /// backend does not exist.</summary>
    public async Task<BackendDefinition?> SetEnabledAsync(string id, bool enabled, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxReplaceAttempts; attempt++)
        {
            var json = await redis.HashGetAsync(BackendKeys.Definitions, id, cancellationToken);
            if (json is null || Deserialize(id, json) is not { } current)
            {
                return null;
            }

            var changed = current with { Enabled = enabled };
            // Sent again after a lost reply: when the first was applied the second answers 'changed', and the next
            // attempt reads the backend as wanted and writes the same definition again.
            var reply = await redis.ScriptEvaluateAsync(
                ReplaceScript, [BackendKeys.Definitions], [id, json, Serialize(changed)], OnLostReply.Resend, cancellationToken);
            switch (reply.AsString())
            {
                case "saved":
                    await AnnounceAsync(BackendRegistryChangeKinds.Updated, id, cancellationToken);
                    return changed;
                case "not-found":
                    return null;
            }
        }

        throw new InvalidOperationException($"Backend '{id}' kept changing while it was being {(enabled ? "enabled" : "disabled")}; try again.");
    }

    /// <summary>Removes a backend and its runtime state. A seeded backend's id is remembered, so the next start
    /// does not seed it again. A backend with prompts in flight retires: no new prompt goes to it, and its lease
    /// holder watches those prompts to their end (or moves them on if the node is gone too) before it lets go.</summary>
    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        var reply = await redis.ScriptEvaluateAsync(
            DeleteScript,
            [BackendKeys.Definitions, BackendKeys.DeletedSeeds, BackendKeys.States, BackendKeys.Statuses, BackendKeys.InFlight(id), BackendKeys.Retiring,
                BackendKeys.LastChange(id)],
            [id, NewChangeToken(), (long)ChangeTokenLifetime.TotalMilliseconds],
            OnLostReply.Resend,
            cancellationToken);
        var deleted = reply.AsString() == "deleted";
        if (deleted)
        {
            await AnnounceAsync(BackendRegistryChangeKinds.Deleted, id, cancellationToken);
        }

        return deleted;
    }

    /// <summary>
    /// Removes the backends an earlier <c>ORCHESTRATOR_COMFY_NODES</c> added that the variable no longer lists, so
    /// nodes whose address changed (the AppHost's emulators get new ports on every start) do not pile up as
    /// offline backends. Backends from config.yaml or the API are never removed here. Returns the removed ids.
    /// </summary>
    public async Task<IReadOnlyList<string>> RemoveUnlistedEnvironmentBackendsAsync(IReadOnlySet<string> listed, CancellationToken cancellationToken)
    {
        var removed = new List<string>();
        var stored = await redis.HashGetAllAsync(BackendKeys.Definitions, cancellationToken);
        foreach (var (id, json) in stored)
        {
            if (listed.Contains(id) || Deserialize(id, json) is not { Source: BackendSource.Environment })
            {
                continue;
            }

            var reply = await redis.ScriptEvaluateAsync(
                RemoveIfUnchangedScript,
                [BackendKeys.Definitions, BackendKeys.States, BackendKeys.Statuses, BackendKeys.InFlight(id), BackendKeys.Retiring],
                [id, json],
                cancellationToken);
            if (reply.AsString() == "deleted")
            {
                removed.Add(id);
                await AnnounceAsync(BackendRegistryChangeKinds.Deleted, id, cancellationToken);
            }
        }

        return removed;
    }

    /// <summary>Adds a backend from config.yaml or COMFY_NODES unless its id exists or was deleted through the
    /// API. Several replicas seeding at once add each backend once. True when it was added.</summary>
    public async Task<bool> SeedAsync(BackendDefinition backend, CancellationToken cancellationToken)
    {
        var reply = await redis.ScriptEvaluateAsync(
            SeedScript, [BackendKeys.Definitions, BackendKeys.DeletedSeeds, BackendKeys.Retiring], [backend.Id, Serialize(backend)], cancellationToken);
        var answer = reply.AsString();
        if (answer == "deleted")
        {
            logger.LogInformation("Not seeding backend {Id}: it was deleted through the API (POST it again to restore it)", backend.Id);
        }

        if (answer != "saved")
        {
            return false;
        }

        await AnnounceAsync(BackendRegistryChangeKinds.Seeded, backend.Id, cancellationToken);
        return true;
    }

    private BackendDefinition? Deserialize(string id, string json)
    {
        try
        {
            var backend = JsonSerializer.Deserialize<BackendDefinition>(json, Json);
            if (backend is not null && backend.Id == id)
            {
                return backend;
            }

            logger.LogWarning("Ignored the backend stored under {Id}: it names another id or is null", id);
        }
        catch (JsonException ex)
        {
            logger.LogWarning(ex, "Ignored the backend stored under {Id}: it is not valid JSON", id);
        }

        return null;
    }

    private static string NewChangeToken() => Guid.NewGuid().ToString("N");

    private static BackendWriteStatus Parse(string? answer) => answer switch
    {
        "saved" => BackendWriteStatus.Saved,
        "id-taken" => BackendWriteStatus.IdTaken,
        "not-found" => BackendWriteStatus.NotFound,
        _ => throw new InvalidOperationException($"The backend registry script answered '{answer}'."),
    };

    private Task AnnounceAsync(BackendWriteStatus status, string change, string id, CancellationToken cancellationToken) =>
        status == BackendWriteStatus.Saved ? AnnounceAsync(change, id, cancellationToken) : Task.CompletedTask;

    private async Task AnnounceAsync(string change, string id, CancellationToken cancellationToken)
    {
        try
        {
            await eventBus.PublishAsync(BackendKeys.RegistryChanges, new BackendRegistryChanged(change, id, timeProvider.GetUtcNow()), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The change is saved; lease holders still see it at their next renewal.
            logger.LogWarning(ex, "Saved a backend change ({Change} {Id}) but could not announce it", change, id);
        }
    }
}
