using System.Text.Json;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>
/// Publishes <see cref="RenderEvent"/>s on <see cref="RenderChannels.RenderEvents"/> and keeps the last one in
/// <see cref="RenderChannels.PromptStateKey"/>. Once a prompt has a final event nothing more is written or
/// published for it, so a backend that comes back, a redelivered command or a late socket message never reports
/// a prompt twice. Previews are published only: they are transient and large.
/// </summary>
public sealed class RenderEventPublisher(IRedisConnection redis, IEventBus eventBus, IOptions<DispatchOptions> options, ILogger<RenderEventPublisher> logger)
{
    /// <summary>The JSON of the <c>event</c> field: the same web defaults the event bus uses for its data.</summary>
    public static readonly JsonSerializerOptions EventJson = new(JsonSerializerDefaults.Web);

    // KEYS: prompt state. ARGV: status, event JSON, backend id, job id, expiry ms.
    private const string WriteStateScript = """
        local current = redis.call('HGET', KEYS[1], 'status')
        if current == 'completed' or current == 'failed' or current == 'interrupted' then return 0 end
        redis.call('HSET', KEYS[1], 'status', ARGV[1], 'event', ARGV[2])
        if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'backend_id', ARGV[3]) end
        if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'job_id', ARGV[4]) end
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        return 1
        """;

    /// <summary>Records and publishes the event; false when the prompt had already ended (nothing was published).
    /// A final event also removes the prompt from its backend's in-flight hash.</summary>
    public async Task<bool> PublishAsync(RenderEvent renderEvent, CancellationToken cancellationToken)
    {
        if (renderEvent.Kind == RenderEventKinds.Preview)
        {
            await eventBus.PublishAsync(RenderChannels.RenderEvents, renderEvent, cancellationToken);
            return true;
        }

        var written = await redis.ScriptEvaluateAsync(
            WriteStateScript,
            [RenderChannels.PromptStateKey(renderEvent.PromptId)],
            [
                renderEvent.Kind,
                JsonSerializer.Serialize(renderEvent, EventJson),
                renderEvent.BackendId,
                renderEvent.JobId ?? "",
                (long)options.Value.PromptStateExpiry.TotalMilliseconds,
            ],
            cancellationToken);
        if (RenderEventKinds.IsFinal(renderEvent.Kind) && renderEvent.BackendId.Length > 0)
        {
            await redis.HashDeleteAsync(BackendKeys.InFlight(renderEvent.BackendId), renderEvent.PromptId, cancellationToken);
        }

        if (written.AsInt64() != 1)
        {
            logger.LogDebug("Dropped {Kind} of prompt {PromptId}: it has already ended", renderEvent.Kind, renderEvent.PromptId);
            return false;
        }

        await eventBus.PublishAsync(RenderChannels.RenderEvents, renderEvent, cancellationToken);
        if (RenderEventKinds.IsFinal(renderEvent.Kind))
        {
            logger.LogInformation("Prompt {PromptId} of job {JobId} on backend {BackendId}: {Kind} {ErrorType} {Error}",
                renderEvent.PromptId, renderEvent.JobId, renderEvent.BackendId, renderEvent.Kind, renderEvent.ErrorType, renderEvent.Error);
        }

        return true;
    }
}
