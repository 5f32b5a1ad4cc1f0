using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using DirectorsConsole.ServiceDefaults.Hosting;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.ServiceDefaults.Paths;

/// <summary>The mappings in Redis at one moment. <paramref name="Version"/> was read before the mappings, so
/// they are at least that new. <paramref name="Problems"/> lists stored entries that could not be read.</summary>
public sealed record PathMappingSnapshot(long Version, IReadOnlyList<PathMapping> Mappings, IReadOnlyList<string> Problems);

/// <summary>Reads and encodes path mappings in the layout of <see cref="PathMappingKeys"/>.</summary>
public static class PathMappingRedis
{
    /// <summary>The stored JSON: snake_case, like the API.</summary>
    public static JsonSerializerOptions Json { get; } = CreateJson();

    public static string Serialize(PathMapping mapping) => JsonSerializer.Serialize(mapping, Json);

    /// <summary>The change counter; 0 before the first change.</summary>
    public static async Task<long> ReadPathMappingsVersionAsync(this IRedisConnection redis, CancellationToken cancellationToken) =>
        await redis.StringGetAsync(PathMappingKeys.Version, cancellationToken).ConfigureAwait(false) is { } text
            ? long.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)
            : 0;

    /// <summary>Every stored mapping, ordered by name and then id, so every reader sees the same order.</summary>
    public static async Task<PathMappingSnapshot> ReadPathMappingsAsync(this IRedisConnection redis, CancellationToken cancellationToken)
    {
        // The version first: a change between the two reads makes the mappings newer than the version says,
        // never older, which is what a reader comparing versions relies on.
        var version = await redis.ReadPathMappingsVersionAsync(cancellationToken).ConfigureAwait(false);
        var stored = await redis.HashGetAllAsync(PathMappingKeys.Mappings, cancellationToken).ConfigureAwait(false);
        var mappings = new List<PathMapping>(stored.Count);
        var problems = new List<string>();
        foreach (var (id, json) in stored)
        {
            try
            {
                var mapping = JsonSerializer.Deserialize<PathMapping>(json, Json);
                if (mapping is null || mapping.Id != id)
                {
                    problems.Add($"The path mapping stored under '{id}' names another id or is null.");
                    continue;
                }

                mappings.Add(mapping);
            }
            catch (JsonException ex)
            {
                problems.Add($"The path mapping stored under '{id}' is not valid JSON: {ex.Message}");
            }
        }

        mappings.Sort(static (a, b) =>
            StringComparer.OrdinalIgnoreCase.Compare(a.Name, b.Name) is var byName and not 0 ? byName : string.CompareOrdinal(a.Id, b.Id));
        return new PathMappingSnapshot(version, mappings, problems);
    }

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
        };
        ApiJson.Apply(options, JsonNamingPolicy.SnakeCaseLower);
        options.MakeReadOnly();
        return options;
    }
}
