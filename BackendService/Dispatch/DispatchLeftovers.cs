using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>
/// Empties the old shared queue <see cref="RenderChannels.DispatchQueue"/>. JobService's scheduler chooses the backend
/// and enqueues each <see cref="RunPromptCommand"/> straight on that backend's queue
/// (<see cref="RenderChannels.BackendQueue"/>), so nothing reaches the shared queue in normal work; what can still be
/// there was put there by an earlier version (before an upgrade, or by a JobService replica not yet upgraded). Runs on
/// every replica: a command naming a registered backend moves to that backend's queue; a cancelled one ends as
/// interrupted; one naming an unknown backend, or none (the scheduler always names one), fails with
/// <c>no_eligible_backend</c>. The move is enqueue-then-ack, keyed by the message: a crash in between delivers the
/// command again, which the key and the backend worker's claim make harmless.
/// </summary>
public sealed class DispatchLeftovers(
    IDurableQueue queue,
    BackendRegistry registry,
    DispatchStore store,
    RenderEventPublisher publisher,
    TimeProvider timeProvider,
    ILogger<DispatchLeftovers> logger) : BackgroundService
{
    private static readonly TimeSpan ReceiveWait = TimeSpan.FromSeconds(2);

    /// <summary>How long a replica holds a leftover before another may take it; moving one takes milliseconds.</summary>
    private static readonly TimeSpan VisibilityTimeout = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var delivery = await queue.ReceiveAsync<RunPromptCommand>(RenderChannels.DispatchQueue, VisibilityTimeout, ReceiveWait, stoppingToken);
                if (delivery is not null)
                {
                    using var activity = delivery.StartProcessingActivity();
                    await HandleAsync(delivery, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Redis unavailable or a command that cannot be read; the message comes back after its visibility timeout.
                logger.LogError(ex, "Moving a command left on {Queue} failed; retrying", RenderChannels.DispatchQueue);
                await Task.Delay(RetryDelay, timeProvider, stoppingToken);
            }
        }
    }

    private async Task HandleAsync(QueueDelivery<RunPromptCommand> delivery, CancellationToken cancellationToken)
    {
        var command = delivery.Message;
        if (await store.IsCancelRequestedAsync(command.PromptId, cancellationToken))
        {
            await PublishFinalAsync(command, RenderEventKinds.Interrupted, "cancelled before it started", null, cancellationToken);
        }
        else if (command.BackendId is not { } named)
        {
            await PublishFinalAsync(command, RenderEventKinds.Failed, "The command names no backend; JobService chooses one for every job.",
                RenderErrorTypes.NoEligibleBackend, cancellationToken);
        }
        else if (await registry.FindAsync(named, cancellationToken) is null)
        {
            await PublishFinalAsync(command, RenderEventKinds.Failed, $"Backend '{named}' is not registered.", RenderErrorTypes.NoEligibleBackend, cancellationToken);
        }
        else
        {
            // A disabled backend's worker fails it (BackendDispatchSession): one place decides what a disabled backend refuses.
            await queue.EnqueueAsync(RenderChannels.BackendQueue(named), command, $"{delivery.Queue}/{delivery.MessageId}", cancellationToken);
            logger.LogInformation("Moved prompt {PromptId} of job {JobId}, left on {Queue}, to backend {BackendId}",
                command.PromptId, command.JobId, RenderChannels.DispatchQueue, named);
        }

        if (!await queue.AckAsync(delivery, cancellationToken))
        {
            logger.LogWarning("Prompt {PromptId} was handled after its lease on {Queue} expired; the copy another replica takes is dropped by the claim",
                command.PromptId, RenderChannels.DispatchQueue);
        }
    }

    private Task PublishFinalAsync(RunPromptCommand command, string kind, string error, string? errorType, CancellationToken cancellationToken) =>
        publisher.PublishAsync(
            new RenderEvent(kind, command.PromptId, command.JobId, command.BackendId ?? "", timeProvider.GetUtcNow()) { Error = error, ErrorType = errorType },
            cancellationToken);
}
