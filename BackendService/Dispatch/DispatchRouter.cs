using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>
/// Runs on every replica: takes <see cref="RunPromptCommand"/>s from <see cref="RenderChannels.DispatchQueue"/> and
/// moves each to the queue of one backend (<see cref="RenderChannels.BackendQueue"/>), where only that backend's lease
/// holder takes it. A command naming its backend goes there; any other goes to the best eligible backend that is
/// online and has a free slot (<see cref="BackendRanking"/>), so work is not piled onto a node while another is idle.
/// A command that has to wait is released for <see cref="DispatchOptions.RouterRetryDelay"/>. The move is
/// enqueue-then-ack: a crash in between delivers the command twice, which the move's deduplication key and the
/// workers' claim make harmless.
/// </summary>
public sealed class DispatchRouter(
    IDurableQueue queue,
    BackendRegistry registry,
    BackendStateStore states,
    DispatchStore store,
    RenderEventPublisher publisher,
    IOptions<DispatchOptions> options,
    TimeProvider timeProvider,
    ILogger<DispatchRouter> logger) : BackgroundService
{
    private static readonly TimeSpan ReceiveWait = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var delivery = await queue.ReceiveAsync<RunPromptCommand>(
                    RenderChannels.DispatchQueue, settings.RouterVisibilityTimeout, ReceiveWait, stoppingToken);
                if (delivery is null)
                {
                    continue;
                }

                using var activity = delivery.StartProcessingActivity();
                if (!await RouteAsync(delivery, stoppingToken))
                {
                    // Nothing can take it yet; do not spin through the waiting commands.
                    await Task.Delay(settings.RouterRetryDelay, timeProvider, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Redis unavailable or a command that cannot be read; the message comes back after its visibility timeout.
                logger.LogError(ex, "Routing a render command failed; retrying");
                await Task.Delay(settings.RouterRetryDelay, timeProvider, stoppingToken);
            }
        }
    }

    /// <summary>Routes, fails or releases one command; false when it was released to wait.</summary>
    private async Task<bool> RouteAsync(QueueDelivery<RunPromptCommand> delivery, CancellationToken cancellationToken)
    {
        var command = delivery.Message;
        if (await store.IsCancelRequestedAsync(command.PromptId, cancellationToken))
        {
            await PublishFinalAsync(command, command.BackendId ?? "", RenderEventKinds.Interrupted, "cancelled before it started", null, cancellationToken);
            await queue.AckAsync(delivery, cancellationToken);
            return true;
        }

        if (command.BackendId is { } named)
        {
            var backend = await registry.FindAsync(named, cancellationToken);
            if (backend is null || !backend.Enabled)
            {
                var why = backend is null ? $"Backend '{named}' is not registered." : $"Backend '{named}' is disabled.";
                await PublishFinalAsync(command, named, RenderEventKinds.Failed, why, RenderErrorTypes.NoEligibleBackend, cancellationToken);
                await queue.AckAsync(delivery, cancellationToken);
                return true;
            }

            await ForwardAsync(delivery, backend.Id, cancellationToken);
            return true;
        }

        var candidates = await LoadCandidatesAsync(cancellationToken);
        var decision = BackendRanking.Choose(candidates, command.RequiredCapabilities, command.PreferredBackendIds);
        switch (decision.Verdict)
        {
            case RoutingVerdict.Route:
                await ForwardAsync(delivery, decision.Backend!.Backend.Id, cancellationToken);
                return true;
            case RoutingVerdict.NoEligibleBackend:
                var required = command.RequiredCapabilities.Count == 0 ? "none" : string.Join(", ", command.RequiredCapabilities);
                await PublishFinalAsync(command, "", RenderEventKinds.Failed,
                    $"No enabled backend has the required capabilities ({required}).", RenderErrorTypes.NoEligibleBackend, cancellationToken);
                await queue.AckAsync(delivery, cancellationToken);
                return true;
            default:
                await queue.ReleaseAsync(delivery, options.Value.RouterRetryDelay, cancellationToken);
                return false;
        }
    }

    private async Task<IReadOnlyList<BackendCandidate>> LoadCandidatesAsync(CancellationToken cancellationToken)
    {
        var backends = await registry.ListAsync(cancellationToken);
        var runtime = await states.ListAsync(cancellationToken);
        var candidates = new List<BackendCandidate>(backends.Count);
        foreach (var backend in backends)
        {
            var state = runtime.GetValueOrDefault(backend.Id);
            // Commands already routed to the backend but not posted yet count as load, or a burst would all go to one node.
            var waiting = await queue.GetCountsAsync(RenderChannels.BackendQueue(backend.Id), cancellationToken);
            var inFlight = await store.CountInFlightAsync(backend.Id, cancellationToken);
            candidates.Add(new BackendCandidate(backend, state, inFlight + waiting.Waiting + waiting.InFlight));
        }

        return candidates;
    }

    private async Task ForwardAsync(QueueDelivery<RunPromptCommand> delivery, string backendId, CancellationToken cancellationToken)
    {
        // Keyed by the routed message: a move sent again after a lost reply, or by a second router after the first one's
        // lease expired, adds nothing to that backend's queue.
        await queue.EnqueueAsync(RenderChannels.BackendQueue(backendId), delivery.Message, $"{delivery.Queue}/{delivery.MessageId}", cancellationToken);
        if (!await queue.AckAsync(delivery, cancellationToken))
        {
            logger.LogWarning("Prompt {PromptId} was routed to {BackendId} after its lease expired; the copy another router takes is dropped by the claim",
                delivery.Message.PromptId, backendId);
        }

        logger.LogDebug("Routed prompt {PromptId} of job {JobId} to backend {BackendId}", delivery.Message.PromptId, delivery.Message.JobId, backendId);
    }

    private Task PublishFinalAsync(RunPromptCommand command, string backendId, string kind, string error, string? errorType, CancellationToken cancellationToken) =>
        publisher.PublishAsync(
            new RenderEvent(kind, command.PromptId, command.JobId, backendId, timeProvider.GetUtcNow()) { Error = error, ErrorType = errorType },
            cancellationToken);
}
