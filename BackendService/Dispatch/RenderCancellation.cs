using DirectorsConsole.ServiceDefaults.Messages;
using DirectorsConsole.ServiceDefaults.Redis;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>
/// Asks that a prompt be stopped, wherever it is: the flag in <see cref="RenderChannels.CancelKey"/> makes any
/// worker or router that takes the command later drop it ("cancelled before it started"), and the event on
/// <see cref="RenderChannels.CancelRequests"/> makes the replica holding the lease of the backend running it delete
/// it from the node's queue and interrupt it (targeted at this prompt, never a global interrupt).
/// </summary>
public sealed class RenderCancellation(IRedisConnection redis, IEventBus eventBus, IOptions<DispatchOptions> options, TimeProvider timeProvider)
{
    public async Task RequestAsync(string promptId, string? backendId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(promptId);
        await redis.StringSetAsync(RenderChannels.CancelKey(promptId), "1", options.Value.CancelExpiry, cancellationToken: cancellationToken);
        await eventBus.PublishAsync(
            RenderChannels.CancelRequests,
            new CancelPromptRequested(promptId, backendId, timeProvider.GetUtcNow()),
            cancellationToken);
    }
}
