using System.Text.Json;
using System.Text.Json.Serialization;
using DirectorsConsole.ServiceDefaults.Hosting;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.GalleryService.Project;

/// <summary>The project the users are working on (the original's <c>project</c> object). <see cref="Path"/> is
/// the folder as this machine sees it, after translation and link resolution.</summary>
public sealed record CurrentProject(
    string Name,
    string Path,
    string NamingTemplate,
    string OrchestratorUrl,
    bool AutoSave,
    string? Description,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

public static class GalleryRedisKeys
{
    /// <summary>String: the <see cref="CurrentProject"/> as camelCase JSON. One for the whole suite, like the
    /// original's single global project, but shared by every replica instead of living in one process.</summary>
    public const string CurrentProject = "dc:gallery:current-project";
}

/// <summary>Reads and writes the current project in Redis; nothing is cached across requests, so a project set
/// through one replica is the current project of every replica at once.</summary>
public sealed class CurrentProjectStore(IRedisConnection redis, ILogger<CurrentProjectStore> logger)
{
    private static readonly JsonSerializerOptions Json = CreateJson();

    public async Task<CurrentProject?> GetAsync(CancellationToken cancellationToken)
    {
        if (await redis.StringGetAsync(GalleryRedisKeys.CurrentProject, cancellationToken) is not { } json)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<CurrentProject>(json, Json);
        }
        catch (JsonException ex)
        {
            // A value another tool wrote by hand; treat it as no project rather than failing every path check.
            logger.LogWarning(ex, "The current project stored in {Key} is not valid JSON; ignoring it", GalleryRedisKeys.CurrentProject);
            return null;
        }
    }

    /// <summary>Replaces the current project. Sent again when Redis restarts before the reply arrives: it writes the
    /// whole value, so a second write leaves what the first did (and, should another replica have set a project in
    /// between, this request, still unanswered then, simply counts as the later one).</summary>
    public Task SetAsync(CurrentProject project, CancellationToken cancellationToken) =>
        redis.StringSetAsync(
            GalleryRedisKeys.CurrentProject, JsonSerializer.Serialize(project, Json), expiry: null, onlyIfNotExists: false, OnLostReply.Resend, cancellationToken);

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.Never };
        ApiJson.Apply(options, JsonNamingPolicy.CamelCase);
        return options;
    }
}
