using System.Text.Json;
using DirectorsConsole.ServiceDefaults.Configuration;
using DirectorsConsole.ServiceDefaults.Hosting;
using DirectorsConsole.ServiceDefaults.Paths;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.PathService.Infrastructure;

/// <summary>
/// Imports the original orchestrator's <c>{data_dir}/path_mappings.json</c>
/// (<c>{"version":1,"mappings":[{id,name,windows,linux,macos,enabled}]}</c>) once per Redis database. Of
/// several replicas starting together only the one that claims <see cref="PathMappingKeys.ImportedMarker"/>
/// with SET NX imports. The claim is a lease until the import is done, so an import cut short by a crash is
/// taken up again by a replica started after the lease ran out; entries keep their ids and names stay unique,
/// so importing again never duplicates a mapping.
/// </summary>
public sealed class PathMappingImporter(
    PathMappingStore store,
    IRedisConnection redis,
    IOptions<OrchestratorOptions> orchestratorOptions,
    ServiceIdentity identity,
    TimeProvider timeProvider,
    ILogger<PathMappingImporter> logger) : BackgroundService
{
    public const string FileName = "path_mappings.json";

    private static readonly TimeSpan ClaimLease = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    // Identifies this replica's claim, so a retry after a Redis error resumes its own import.
    private readonly string _claim = $"importing:{identity.InstanceId}:{Guid.NewGuid():N}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var file = Path.Combine(orchestratorOptions.Value.DataDirectory, FileName);
        if (!File.Exists(file))
        {
            logger.LogDebug("No {File} to import", file);
            return;
        }

        var delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ImportAsync(file, stoppingToken);
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Could not import {File}; retrying in {Delay}", file, delay);
                try
                {
                    await Task.Delay(delay, timeProvider, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            }
        }
    }

    private async Task ImportAsync(string file, CancellationToken cancellationToken)
    {
        // The claim is sent again after a lost reply: a second SET NX then fails on this replica's own claim, which
        // the GET recognises, so the import goes on.
        if (!await redis.StringSetAsync(PathMappingKeys.ImportedMarker, _claim, ClaimLease, onlyIfNotExists: true, OnLostReply.Resend, cancellationToken)
            && await redis.StringGetAsync(PathMappingKeys.ImportedMarker, cancellationToken) != _claim)
        {
            logger.LogDebug("{File} was imported, or is being imported, by another replica ({Marker} is set)", file, PathMappingKeys.ImportedMarker);
            return;
        }

        IReadOnlyList<JsonElement> entries;
        try
        {
            entries = await ReadEntriesAsync(file, cancellationToken);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            // Give up the claim, so that the file is imported at the next start once it has been fixed.
            await redis.KeyDeleteAsync(PathMappingKeys.ImportedMarker, cancellationToken);
            logger.LogError(ex, "Could not read {File}; nothing was imported", file);
            return;
        }

        var imported = 0;
        for (var index = 0; index < entries.Count; index++)
        {
            if (await ImportEntryAsync(file, index, entries[index], cancellationToken))
            {
                imported++;
            }
        }

        var now = timeProvider.GetUtcNow();
        // A whole value, so sending it again after a lost reply writes the same marker.
        await redis.StringSetAsync(PathMappingKeys.ImportedMarker, $"imported {imported} of {entries.Count} from {file} by {identity.InstanceId} at {now:O}",
            expiry: null, onlyIfNotExists: false, OnLostReply.Resend, cancellationToken);
        await store.AnnounceAsync(PathMappingChangeKinds.Imported, null, cancellationToken);
        logger.LogInformation(
            "Imported {Imported} of {Total} path mappings from {File}. The file is left in place and is not read again while {Marker} is set in Redis",
            imported, entries.Count, file, PathMappingKeys.ImportedMarker);
    }

    private static async Task<IReadOnlyList<JsonElement>> ReadEntriesAsync(string file, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(file);
        using var document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty("mappings", out var mappings)
            || mappings.ValueKind != JsonValueKind.Array)
        {
            throw new JsonException("Expected an object with a \"mappings\" array.");
        }

        return mappings.EnumerateArray().Select(entry => entry.Clone()).ToArray();
    }

    private async Task<bool> ImportEntryAsync(string file, int index, JsonElement entry, CancellationToken cancellationToken)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            logger.LogWarning("Skipped entry {Index} of {File}: it is not an object", index, file);
            return false;
        }

        var validation = PathMappingValidator.Validate(Text(entry, "name"), Text(entry, "windows"), Text(entry, "linux"), Text(entry, "macos"));
        if (!validation.IsValid)
        {
            logger.LogWarning("Skipped entry {Index} ({Name}) of {File}: {Problems}", index, Text(entry, "name"), file,
                string.Join("; ", validation.Errors.Select(error => $"{error.Field}: {error.Message}")));
            return false;
        }

        var id = Text(entry, "id") is { } given && IsUsableId(given) ? given : Guid.NewGuid().ToString();
        var enabled = !entry.TryGetProperty("enabled", out var flag) || flag.ValueKind != JsonValueKind.False;
        var mapping = new PathMapping(id, validation.Name, validation.Windows, validation.Linux, validation.Macos, enabled);
        if (await store.AddImportedAsync(mapping, cancellationToken) == PathMappingWriteStatus.IdTaken)
        {
            logger.LogInformation("Skipped entry {Index} ({Name}) of {File}: a mapping with id {Id} already exists", index, mapping.Name, file, id);
            return false;
        }

        return true;
    }

    private static string? Text(JsonElement entry, string property) =>
        entry.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    // Ids become Redis hash fields and URL segments; keep the original's uuid4s, replace anything odd.
    private static bool IsUsableId(string id) =>
        id.Length is > 0 and <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}
