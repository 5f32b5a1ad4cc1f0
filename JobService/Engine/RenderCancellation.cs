using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// Asks that a prompt be stopped, wherever it is: the flag in <see cref="RenderChannels.CancelKey"/> makes any
/// BackendService worker that takes the command later drop it ("cancelled before it started"), and the
/// event on <see cref="RenderChannels.CancelRequests"/> makes the replica holding the lease of the backend running it
/// delete it from the node's queue and interrupt it (targeted at this prompt, never a global interrupt). The flag
/// and the event are the contract BackendService's dispatch reads; JobService is the one that asks.
/// </summary>
public sealed class RenderCancellation(IRedisConnection redis, IEventBus eventBus, TimeProvider timeProvider)
{
    /// <summary>How long a cancel request is remembered: longer than any command waits in a queue.</summary>
    public static readonly TimeSpan RequestExpiry = TimeSpan.FromDays(1);

    public async Task RequestAsync(string promptId, string? backendId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(promptId);
        await redis.StringSetAsync(RenderChannels.CancelKey(promptId), "1", RequestExpiry, cancellationToken: cancellationToken);
        await eventBus.PublishAsync(
            RenderChannels.CancelRequests,
            new CancelPromptRequested(promptId, backendId, timeProvider.GetUtcNow()),
            cancellationToken);
    }
}
