using System.Text.Json;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// Reads the last render event of a prompt from its state hash (<see cref="RenderChannels.PromptStateKey"/>), which
/// BackendService writes with every event it publishes: what a reconcile applies when pub/sub lost an event.
/// </summary>
public sealed class PromptStateReader(IRedisConnection redis, ILogger<PromptStateReader> logger)
{
    /// <summary>The JSON of the prompt state's <c>event</c> field (BackendService writes it with the web defaults).</summary>
    private static readonly JsonSerializerOptions EventJson = new(JsonSerializerDefaults.Web);

    /// <summary>The prompt's last event; null when it has none (never taken, or expired) or it cannot be read.</summary>
    public async Task<RenderEvent?> ReadAsync(string promptId, CancellationToken cancellationToken)
    {
        var json = await redis.HashGetAsync(RenderChannels.PromptStateKey(promptId), "event", cancellationToken);
        if (json is null)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<RenderEvent>(json, EventJson);
        }
        catch (JsonException ex)
        {
            logger.LogWarning(ex, "Ignored the unreadable state of prompt {PromptId}", promptId);
            return null;
        }
    }
}
