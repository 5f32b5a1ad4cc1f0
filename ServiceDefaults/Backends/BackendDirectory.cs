using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using DirectorsConsole.ServiceDefaults.Hosting;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.ServiceDefaults.Backends;

/// <summary>
/// The render-node registry as BackendService keeps it in Redis: definitions and the runtime state its probes
/// write. BackendService owns both (it writes them); other services read them here to choose and validate
/// backends without a call to BackendService.
/// </summary>
public static class BackendDirectoryKeys
{
    /// <summary>Hash: backend id → <see cref="BackendDefinition"/> as <see cref="BackendDirectory.Json"/>.</summary>
    public const string Definitions = "dc:backends";

    /// <summary>Hash: backend id → <see cref="BackendRuntimeState"/> as <see cref="BackendDirectory.Json"/>.</summary>
    public const string States = "dc:backends:state";
}

/// <summary>A backend's definition with its last known runtime state (null when it was never probed).</summary>
public sealed record BackendEntry(BackendDefinition Definition, BackendRuntimeState? State)
{
    public bool Online => Definition.Enabled && State is { Online: true };
}

/// <summary>Reads the registry of <see cref="BackendDirectoryKeys"/>. Entries that cannot be read are logged and left out.</summary>
public sealed class BackendDirectory(IRedisConnection redis, ILogger<BackendDirectory> logger)
{
    /// <summary>The stored JSON: snake_case like the API, enums as snake_case strings, dates in UTC.</summary>
    public static JsonSerializerOptions Json { get; } = CreateJson();

    /// <summary>Every backend, ordered by id.</summary>
    public async Task<IReadOnlyList<BackendEntry>> ListAsync(CancellationToken cancellationToken)
    {
        // Both reads at once: one round trip's wait, not two.
        var readingDefinitions = ReadDefinitionsAsync(cancellationToken);
        var readingStates = redis.HashGetAllAsync(BackendDirectoryKeys.States, cancellationToken);
        await Task.WhenAll(readingDefinitions, readingStates);
        var states = await readingStates;
        return (await readingDefinitions)
            .Select(d => new BackendEntry(d.Definition, states.TryGetValue(d.Id, out var state) ? Read<BackendRuntimeState>(d.Id, state) : null))
            .ToList();
    }

    /// <summary>Every backend's definition, ordered by id, without its runtime state.</summary>
    public async Task<IReadOnlyList<BackendDefinition>> ListDefinitionsAsync(CancellationToken cancellationToken) =>
        (await ReadDefinitionsAsync(cancellationToken)).Select(d => d.Definition).ToList();

    /// <summary>The definitions with the ids they are stored under (the hash's fields), ordered by id.</summary>
    private async Task<List<(string Id, BackendDefinition Definition)>> ReadDefinitionsAsync(CancellationToken cancellationToken)
    {
        var definitions = await redis.HashGetAllAsync(BackendDirectoryKeys.Definitions, cancellationToken);
        var read = new List<(string, BackendDefinition)>(definitions.Count);
        foreach (var (id, json) in definitions.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            if (Read<BackendDefinition>(id, json) is { } definition)
            {
                read.Add((id, definition));
            }
        }

        return read;
    }

    private T? Read<T>(string id, string json)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Json);
        }
        catch (JsonException ex)
        {
            logger.LogWarning(ex, "Ignored the unreadable {Kind} of backend {Id}", typeof(T).Name, id);
            return null;
        }
    }

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };
        ApiJson.Apply(options, JsonNamingPolicy.SnakeCaseLower);
        options.MakeReadOnly();
        return options;
    }
}
