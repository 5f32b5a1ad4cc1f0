using System.Runtime.ExceptionServices;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using DirectorsConsole.BackendService.Comfy;
using DirectorsConsole.Comfy;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>
/// Dispatch to one backend for as long as this replica holds its lease. The socket (opened before anything is
/// posted, with the backend's client id from Redis), the intake of commands, cancel requests and a health tick all
/// feed one work queue that a single loop handles in order, so a prompt's events are never handled before its post
/// has finished and no two handlers race on the same prompt.
/// </summary>
public sealed class BackendDispatchSession
{
    private static readonly TimeSpan IntakeWait = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan HistoryRetryDelay = TimeSpan.FromMilliseconds(200);
    private const int HistoryAttempts = 3;

    // The most events held from a burst of the node's messages before they are written (LoopAsync).
    private const int MaxHeldEvents = 64;

    private readonly BackendDefinition _backend;
    private readonly IDurableQueue _queue;
    private readonly IEventBus _eventBus;
    private readonly DispatchStore _store;
    private readonly BackendStateStore _states;
    private readonly ComfyPromptClient _comfy;
    private readonly DispatchOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Uri _node;
    private readonly string _backendQueue;

    // This session as a consumer of the backend's queue: only the lease holder takes from it, so any delivery held by
    // another consumer belongs to an earlier session (of a replica that died or lost the lease) and is taken back.
    private readonly string _consumer = Guid.NewGuid().ToString("N");
    private readonly Channel<SessionWork> _work = Channel.CreateUnbounded<SessionWork>(new UnboundedChannelOptions { SingleReader = true });

    // Set by the loop after anything that may let the intake take a command (the socket opened, a health check found
    // the node back): the intake looks again at once rather than at its next poll.
    private readonly Channel<bool> _intakeWake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    // Only the loop touches these (the translator's tracked prompts included).
    private readonly ComfyEventTranslator _prompts;
    private DateTimeOffset? _disconnectedSince;
    private DateTimeOffset _lastReconcile;

    // Read by the intake loop.
    private volatile bool _online;
    private volatile string? _status;
    private int _tickQueued;
    private ComfySocket? _socket;
    private string _clientId = "";

    public BackendDispatchSession(
        BackendDefinition backend,
        IDurableQueue queue,
        IEventBus eventBus,
        DispatchStore store,
        RenderEventPublisher publisher,
        BackendStateStore states,
        ComfyPromptClient comfy,
        NodeMonitorReadings monitorReadings,
        DispatchOptions options,
        TimeProvider timeProvider,
        ILogger<BackendDispatchSession> logger)
    {
        _backend = backend;
        _queue = queue;
        _eventBus = eventBus;
        _store = store;
        _states = states;
        _comfy = comfy;
        _options = options;
        _time = timeProvider;
        _logger = logger;
        _node = backend.BaseAddress;
        _backendQueue = RenderChannels.BackendQueue(backend.Id);
        _prompts = new ComfyEventTranslator(backend.Id, publisher, store, monitorReadings, options, timeProvider)
        {
            // History is written just after execution_success; "executing" with a null node follows it.
            OnSucceeded = FinishFromHistoryOnceAsync,
            OnExecutionEnded = FinishFromHistoryAsync,
        };
        _lastReconcile = timeProvider.GetUtcNow();
        // Down until the socket first opens: prompts taken over from a node that never answers again are lost after
        // the offline grace like those of a socket that dropped.
        _disconnectedSince = _lastReconcile;
    }

    private ComfySocket Socket => _socket ?? throw new InvalidOperationException("The session has not started.");

    public async Task RunAsync(CancellationToken leaseLost)
    {
        _clientId = await _store.GetOrCreateClientIdAsync(_backend.Id, leaseLost);
        _socket = new ComfySocket(_node, _clientId, _options.ToSocketSettings(),
            // The same connect policy as the HTTP clients: a host name that resolves to a link-local or metadata
            // address is refused here too.
            () => BackendHostPolicy.CreateHandler(_options.SocketConnectTimeout), _logger, _time);
        // Commands the previous holder of the lease took and never finished: posted or not, they are handled again now
        // (a posted one is recognised on the node and tracked) rather than after their visibility timeout, during which
        // the job's slot would hold the node back.
        await _queue.ReclaimAsync(_backendQueue, _consumer, leaseLost);
        // Prompts posted by the previous holder of the lease: reconciled once the socket is open.
        foreach (var prompt in await _store.ListInFlightAsync(_backend.Id, leaseLost))
        {
            _prompts.Track(prompt);
        }

        _logger.LogInformation("Dispatching to backend {BackendId} at {Node} with client id {ClientId}; {Count} prompts in flight",
            _backend.Id, _node, _clientId, _prompts.Count);
        await using var cancelSubscription = await _eventBus.SubscribeAsync<CancelPromptRequested>(
            RenderChannels.CancelRequests,
            (request, _) =>
            {
                if (request.BackendId is null || request.BackendId == _backend.Id)
                {
                    _work.Writer.TryWrite(new CancelWork(request.PromptId));
                }

                return Task.CompletedTask;
            },
            // Requests published while the subscription was down are still in their cancel keys.
            _ =>
            {
                _work.Writer.TryWrite(CheckCancelsWork.Instance);
                return Task.CompletedTask;
            },
            leaseLost);

        await Task.WhenAll(
            Socket.RunAsync(leaseLost),
            PumpSocketAsync(),
            TickAsync(leaseLost),
            IntakeAsync(leaseLost),
            LoopAsync(leaseLost));
    }

    /// <summary>Moves socket events into the work queue; ends when the socket's run ends.</summary>
    private async Task PumpSocketAsync()
    {
        await foreach (var socketEvent in Socket.Events.ReadAllAsync(CancellationToken.None))
        {
            // A message the translator ignores would only stand between two it acts on (IsSuperseded looks at the next).
            if (socketEvent is not ComfySocketMessage { Type: var type } || ComfyEventTranslator.Handles(type))
            {
                _work.Writer.TryWrite(new SocketWork(socketEvent));
            }
        }
    }

    private async Task TickAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.HealthCheckInterval, _time);
        // The first check at once: a session that took over a backend dispatches as soon as it knows the node's state.
        Interlocked.Exchange(ref _tickQueued, 1);
        _work.Writer.TryWrite(TickWork.Instance);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                // A slow loop gets one tick, not a backlog of them.
                if (Interlocked.Exchange(ref _tickQueued, 1) == 0)
                {
                    _work.Writer.TryWrite(TickWork.Instance);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Takes commands from the backend's queue while the node is online and connected, as many as the scheduler
    /// sent: they wait in the node's own queue until it runs them. While it is disabled (or deleted) every command
    /// fails; while it is offline, they wait.</summary>
    private async Task IntakeAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (_status is BackendStatuses.Offline or BackendStatuses.Disabled)
                {
                    await HandBackAsync(cancellationToken);
                    await WaitForIntakeWakeAsync(cancellationToken);
                    continue;
                }

                // No slot count here: JobService's scheduler sends a backend only as many commands as it may hold
                // (max_concurrent_jobs running and its prefetch waiting in the node's queue, JobKeys.Assigned).
                if (!_online || !Socket.IsConnected)
                {
                    await WaitForIntakeWakeAsync(cancellationToken);
                    continue;
                }

                // The commands waiting together (a job group's children, the prefetch of a burst) are posted together.
                var deliveries = await _queue.ReceiveManyAsync<RunPromptCommand>(
                    _backendQueue, _options.BackendVisibilityTimeout, IntakeWait, _consumer, _options.PostBatchSize, cancellationToken);
                if (deliveries.Count == 0)
                {
                    continue;
                }

                var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _work.Writer.TryWrite(new PostWork(deliveries, _time.GetTimestamp(), handled));
                await handled.Task.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Taking commands for backend {BackendId} failed; retrying", _backend.Id);
                await Task.Delay(_options.IntakePollInterval, _time, cancellationToken);
            }
        }
    }

    /// <summary>Until the loop signals a change that may free the intake, or <see cref="DispatchOptions.IntakePollInterval"/>
    /// at most (the safety net for a change it does not see, such as a slot freed by another replica's cleanup).</summary>
    private async Task WaitForIntakeWakeAsync(CancellationToken cancellationToken)
    {
        using var interval = new CancellationTokenSource(_options.IntakePollInterval, _time);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, interval.Token);
        try
        {
            await _intakeWake.Reader.ReadAsync(wait.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The poll interval passed.
        }
    }

    private async Task HandBackAsync(CancellationToken cancellationToken)
    {
        var delivery = await _queue.TryReceiveAsync<RunPromptCommand>(_backendQueue, _options.BackendVisibilityTimeout, _consumer, cancellationToken);
        if (delivery is null)
        {
            return;
        }

        if (_status == BackendStatuses.Disabled)
        {
            await RefuseAsync(delivery, cancellationToken);
        }
        else
        {
            // It waits for the node to come back, looked at again at each health check rather than after a fixed long
            // delay, so it is posted as soon as the node answers again (JobService moves it elsewhere after its grace).
            await _queue.ReleaseAsync(delivery, _options.HealthCheckInterval, cancellationToken);
        }
    }

    /// <summary>A disabled or deleted backend takes nothing new: the command fails (the scheduler chose it just before
    /// the change), unless it was cancelled meanwhile.</summary>
    private async Task RefuseAsync(QueueDelivery<RunPromptCommand> delivery, CancellationToken cancellationToken)
    {
        var command = delivery.Message;
        var cancelled = await _store.IsCancelRequestedAsync(command.PromptId, cancellationToken);
        await PublishAsync(command.PromptId, command.JobId, cancelled ? RenderEventKinds.Interrupted : RenderEventKinds.Failed, e => e with
        {
            Error = cancelled ? "cancelled before it started" : $"Backend '{_backend.Id}' is disabled or deleted; it takes no new prompts.",
            ErrorType = cancelled ? null : RenderErrorTypes.NoEligibleBackend,
        }, cancellationToken);
        await _queue.AckAsync(delivery, cancellationToken);
        _logger.LogInformation("Backend {BackendId} is disabled or deleted: prompt {PromptId} {Outcome}", _backend.Id, command.PromptId,
            cancelled ? "was cancelled" : "fails with no_eligible_backend");
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var work in _work.Reader.ReadAllAsync(cancellationToken))
            {
                try
                {
                    var before = (_online, _status, Socket.IsConnected);
                    // The events of a burst of the node's messages are written and published together: held while
                    // another of its messages waits behind this one, and always written before any other work.
                    var message = IsNodeMessage(work);
                    if (message)
                    {
                        _prompts.Hold();
                    }
                    else
                    {
                        await _prompts.FlushAsync(cancellationToken);
                    }

                    await HandleAsync(work, cancellationToken);
                    if (!message || !_work.Reader.TryPeek(out var next) || !IsNodeMessage(next) || _prompts.HeldCount >= MaxHeldEvents)
                    {
                        await _prompts.FlushAsync(cancellationToken);
                    }

                    if ((_online, _status, Socket.IsConnected) != before)
                    {
                        _intakeWake.Writer.TryWrite(true);
                    }
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    (work as PostWork)?.Handled.TrySetCanceled(cancellationToken);
                    throw;
                }
                catch (Exception ex)
                {
                    // Redis or the node failed in the middle; the periodic reconcile repairs what this left undone.
                    _logger.LogError(ex, "Handling {Work} for backend {BackendId} failed", Describe(work), _backend.Id);
                    (work as PostWork)?.Handled.TrySetResult();
                    await FlushAfterFailureAsync(cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>A message or a binary frame of the node's socket: work whose events may be held (<see cref="LoopAsync"/>).</summary>
    private static bool IsNodeMessage(SessionWork work) => work is SocketWork { Event: ComfySocketMessage or ComfySocketBinary };

    /// <summary>Writes the events held from the messages before one whose handling failed (logged when that fails too).</summary>
    private async Task FlushAfterFailureAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _prompts.FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _logger.LogError(ex, "Recording the events held for backend {BackendId} failed", _backend.Id);
        }
    }

    /// <summary>The work item for a log line, naming its prompt where it has one.</summary>
    private static string Describe(SessionWork work) => work switch
    {
        PostWork post => $"the post of prompt{(post.Deliveries.Count > 1 ? "s" : "")} {string.Join(", ", post.Deliveries.Select(d => $"{d.Message.PromptId} (job {d.Message.JobId})"))}",
        SocketWork { Event: ComfySocketMessage message } => $"the node's {message.Type} message about prompt {message.Data["prompt_id"]?.ToString() ?? "(unnamed)"}",
        CancelWork cancel => $"the cancel of prompt {cancel.PromptId}",
        _ => work.GetType().Name,
    };

    private Task HandleAsync(SessionWork work, CancellationToken cancellationToken) => work switch
    {
        SocketWork { Event: ComfySocketConnected connected } => OnConnectedAsync(connected, cancellationToken),
        SocketWork { Event: ComfySocketDisconnected } => OnDisconnected(),
        SocketWork { Event: ComfySocketMessage message } => _prompts.OnMessageAsync(message.Type, message.Data, cancellationToken, IsSuperseded(message)),
        SocketWork { Event: ComfySocketBinary binary } => _prompts.OnBinaryAsync(binary.Frame, cancellationToken),
        PostWork post => PostAsync(post, cancellationToken),
        CancelWork cancel => OnCancelRequestedAsync(cancel.PromptId, cancellationToken),
        CheckCancelsWork => CheckCancelsAsync(cancellationToken),
        TickWork => OnTickAsync(cancellationToken),
        _ => Task.CompletedTask,
    };

    /// <summary>True for a progress message behind which the node's next message about the same prompt already waits:
    /// its progress is out of date, and publishing it (a write and a publish here, a commit in JobService and a message
    /// to every watcher) would only delay the newer one.</summary>
    private bool IsSuperseded(ComfySocketMessage message) =>
        ComfyEventTranslator.IsProgress(message.Type, message.Data)
        && _work.Reader.TryPeek(out var next) && next is SocketWork { Event: ComfySocketMessage following }
        && _prompts.IsSupersededBy(message.Type, message.Data, following.Type, following.Data);

    // ---- posting -------------------------------------------------------------------------------------------

    /// <summary>Posts the commands the intake took together: one claim for all of them; then, one by one in their order,
    /// what needs no post is handled (refused, cancelled, a duplicate, found on the node already); then the first
    /// <c>POST /prompt</c> alone and the others together (<see cref="SendAllAsync"/>); then one write recording every
    /// accepted one (its <c>accepted</c> and its in-flight record) and their acknowledgements. A command is acknowledged
    /// only once its outcome is recorded; one that is not comes back (its visibility timeout, or the next session's
    /// reclaim) and, claimed before, is looked for on the node first.</summary>
    private async Task PostAsync(PostWork work, CancellationToken cancellationToken)
    {
        var toSend = new List<PendingPost>();
        try
        {
            var deliveries = work.Deliveries;
            IReadOnlyList<PromptClaim> claims;
            try
            {
                claims = await _store.ClaimAsync(
                    deliveries.Select(delivery => (delivery.Message.PromptId, delivery.Message.JobId)).ToList(), _backend.Id, cancellationToken, backendMustBeOpen: true);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // Nothing was posted: every command is offered again at once rather than after its visibility timeout.
                await ReleaseQuietlyAsync(deliveries, TimeSpan.Zero, cancellationToken);
                throw;
            }

            var leases = new PostLeases(work.ReceivedAt);
            ExceptionDispatchInfo? failure = null;
            for (var i = 0; i < deliveries.Count; i++)
            {
                // The leases of those prepared and not yet posted, and of those still to prepare.
                await ExtendLeasesIfDueAsync(leases, toSend.Select(post => post.Delivery).Concat(deliveries.Skip(i)), cancellationToken);
                var delivery = deliveries[i];
                try
                {
                    if (await PrepareAsync(delivery, claims[i], toSend.Any(post => post.Record.PromptId == delivery.Message.PromptId), cancellationToken) is { } post)
                    {
                        toSend.Add(post);
                    }
                }
                catch (ComfyUnreachableException ex)
                {
                    // Looking for it on the node failed: it and the commands after it wait as the post of it would have.
                    var delay = await RetryUnreachableAsync(delivery, ex, cancellationToken);
                    await ReleaseQuietlyAsync(deliveries.Skip(i + 1), delay, cancellationToken);
                    break;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // This command comes back after its visibility timeout; the ones prepared before it are still posted
                    // and recorded, and the ones after it are offered again at once.
                    failure = ExceptionDispatchInfo.Capture(ex);
                    await ReleaseQuietlyAsync(deliveries.Skip(i + 1), TimeSpan.Zero, cancellationToken);
                    break;
                }
            }

            var (accepted, sendFailure) = await SendAllAsync(toSend, leases, cancellationToken);
            if (accepted.Count > 0)
            {
                // One write: every accepted prompt's state and its place in the in-flight hash.
                await _prompts.AcceptAsync(accepted.Select(post => (post.Record, post.DroppedOutputs)).ToList(), cancellationToken);
                await Task.WhenAll(accepted.Select(post => _queue.AckAsync(post.Delivery, cancellationToken)));
            }

            (failure ?? sendFailure)?.Throw();
        }
        finally
        {
            foreach (var post in toSend)
            {
                post.Activity?.Dispose();
            }

            work.Handled.TrySetResult();
        }
    }

    /// <summary>When the commands' leases began (a timestamp of the session's clock), moved on when they are extended.</summary>
    private sealed class PostLeases(long since)
    {
        public long Since { get; set; } = since;
    }

    /// <summary>Extends the leases of <paramref name="deliveries"/> when a request that takes as long as it may could
    /// outlast them: slow requests to a slow node must not let a command still to post go to another session.</summary>
    private async Task ExtendLeasesIfDueAsync(PostLeases leases, IEnumerable<QueueDelivery<RunPromptCommand>> deliveries, CancellationToken cancellationToken)
    {
        if (_time.GetElapsedTime(leases.Since) >= _options.BackendVisibilityTimeout - _options.RequestTimeout)
        {
            await Task.WhenAll(deliveries.Select(delivery => _queue.ExtendAsync(delivery, _options.BackendVisibilityTimeout, cancellationToken)));
            leases.Since = _time.GetTimestamp();
        }
    }

    /// <summary>A command ready to post: its delivery, the in-flight record it will have, the request, and the activity of
    /// its handling (every span of its post is under it).</summary>
    private sealed record PendingPost(QueueDelivery<RunPromptCommand> Delivery, InFlightPrompt Record, ComfyPromptRequest Request, System.Diagnostics.Activity? Activity);

    /// <summary>How one post ended: the node's answer, or the exception that stopped it.</summary>
    private sealed record SentPost(PendingPost Post, ComfyPostResult? Result, Exception? Error);

    /// <summary>A command accepted by the node, to be recorded with the others of its batch.</summary>
    private sealed record AcceptedPost(InFlightPrompt Record, string? DroppedOutputs, QueueDelivery<RunPromptCommand> Delivery);

    /// <summary>
    /// Posts <paramref name="posts"/>: the first alone, then the others at the same time. The node starts the first as soon
    /// as it has it, and the others wait in its queue, which ComfyUI orders by each prompt's <c>number</c> (the suite's
    /// queue order), not by arrival; posted one after another, each would wait for the answer to the one before it while
    /// the node ran ahead. When a post sent alone fails, the ones after it are not tried: they wait as long as it does
    /// when the node could not be reached, and are offered again at once after any other failure. The answers are
    /// handled one by one in order (the session's state is the loop's alone); the first unexpected failure is returned to
    /// be thrown once the accepted ones are recorded.
    /// </summary>
    private async Task<(List<AcceptedPost> Accepted, ExceptionDispatchInfo? Failure)> SendAllAsync(
        IReadOnlyList<PendingPost> posts, PostLeases leases, CancellationToken cancellationToken)
    {
        var accepted = new List<AcceptedPost>();
        if (posts.Count == 0)
        {
            return (accepted, null);
        }

        // A prompt with no number of its own (a command of an earlier version) takes its place in the node's queue by
        // when it arrives, so such a batch is posted one after another, as the suite's queue ordered it.
        var together = posts.Skip(1).All(post => post.Request.Number is not null);
        for (var i = 0; i < (together ? 1 : posts.Count); i++)
        {
            await ExtendLeasesIfDueAsync(leases, posts.Skip(i).Select(post => post.Delivery), cancellationToken);
            var outcome = await HandleSentAsync(await SendAsync(posts[i], cancellationToken), accepted, cancellationToken);
            if (outcome.Failure is not null || outcome.RetryAfter is not null)
            {
                await ReleaseQuietlyAsync(posts.Skip(i + 1).Select(post => post.Delivery), outcome.RetryAfter ?? TimeSpan.Zero, cancellationToken);
                return (accepted, outcome.Failure);
            }
        }

        if (!together)
        {
            return (accepted, null);
        }

        await ExtendLeasesIfDueAsync(leases, posts.Skip(1).Select(post => post.Delivery), cancellationToken);
        ExceptionDispatchInfo? failure = null;
        foreach (var sent in await Task.WhenAll(posts.Skip(1).Select(post => SendAsync(post, cancellationToken))))
        {
            failure ??= (await HandleSentAsync(sent, accepted, cancellationToken)).Failure;
        }

        return (accepted, failure);
    }

    private async Task<SentPost> SendAsync(PendingPost post, CancellationToken cancellationToken)
    {
        // Only the post runs beside the others: it touches nothing of the session's.
        System.Diagnostics.Activity.Current = post.Activity ?? System.Diagnostics.Activity.Current;
        try
        {
            return new SentPost(post, await _comfy.PostPromptAsync(_node, post.Request, cancellationToken), null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new SentPost(post, null, ex);
        }
    }

    /// <summary>What became of one post: <see cref="RetryAfter"/> when the node could not be reached and the command was
    /// released (or failed for good), <see cref="Failure"/> when it failed otherwise (it comes back after its
    /// visibility timeout).</summary>
    private readonly record struct SentOutcome(TimeSpan? RetryAfter = null, ExceptionDispatchInfo? Failure = null);

    /// <summary>Handles the node's answer to one post: an accepted one is added to <paramref name="accepted"/>, a refused
    /// one fails its job, and one that could not reach the node is offered again after a delay that doubles with each
    /// failure, until <see cref="DispatchOptions.PostAttempts"/>.</summary>
    private async Task<SentOutcome> HandleSentAsync(SentPost sent, List<AcceptedPost> accepted, CancellationToken cancellationToken)
    {
        var (post, result, error) = sent;
        System.Diagnostics.Activity.Current = post.Activity ?? System.Diagnostics.Activity.Current;
        try
        {
            switch (result)
            {
                case ComfyPromptAccepted ok:
                    accepted.Add(new AcceptedPost(post.Record, ok.DroppedOutputs, post.Delivery));
                    return default;
                case ComfyPromptRejected rejected:
                    await PublishAsync(post.Record.PromptId, post.Record.JobId, RenderEventKinds.Failed,
                        e => e with { Error = rejected.Message, ErrorType = RenderErrorTypes.InvalidWorkflow }, cancellationToken);
                    await _queue.AckAsync(post.Delivery, cancellationToken);
                    return default;
                case null when error is ComfyUnreachableException unreachable:
                    return new SentOutcome(RetryAfter: await RetryUnreachableAsync(post.Delivery, unreachable, cancellationToken));
                default:
                    return new SentOutcome(Failure: ExceptionDispatchInfo.Capture(error ?? new InvalidOperationException($"No answer to the post of prompt {post.Record.PromptId}.")));
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new SentOutcome(Failure: ExceptionDispatchInfo.Capture(ex));
        }
    }

    /// <summary>A command whose node could not be reached: offered again after a delay that doubles with each failure,
    /// or failed with <c>backend_unreachable</c> after <see cref="DispatchOptions.PostAttempts"/>. Returns the delay.</summary>
    private async Task<TimeSpan> RetryUnreachableAsync(QueueDelivery<RunPromptCommand> delivery, ComfyUnreachableException ex, CancellationToken cancellationToken)
    {
        var command = delivery.Message;
        var failures = await _store.CountPostFailureAsync(command.PromptId, cancellationToken);
        var delay = _options.PostRetryDelay * Math.Pow(2, failures - 1);
        if (failures >= _options.PostAttempts)
        {
            await PublishAsync(command.PromptId, command.JobId, RenderEventKinds.Failed, e => e with
            {
                Error = $"Render node {_backend.Name} could not be reached after {failures} attempts: {ex.Message}",
                ErrorType = RenderErrorTypes.BackendUnreachable,
            }, cancellationToken);
            await _queue.AckAsync(delivery, cancellationToken);
        }
        else
        {
            _logger.LogWarning("Posting prompt {PromptId} to backend {BackendId} failed (attempt {Attempt}); retrying in {Delay}: {Reason}",
                command.PromptId, _backend.Id, failures, delay, ex.Message);
            await _queue.ReleaseAsync(delivery, delay, cancellationToken);
        }

        return delay;
    }

    /// <summary>Makes commands taken and not posted visible again; one that cannot be released comes back after its
    /// visibility timeout instead (logged).</summary>
    private async Task ReleaseQuietlyAsync(IEnumerable<QueueDelivery<RunPromptCommand>> deliveries, TimeSpan delay, CancellationToken cancellationToken)
    {
        foreach (var delivery in deliveries)
        {
            try
            {
                await _queue.ReleaseAsync(delivery, delay, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _logger.LogWarning(ex, "Could not release prompt {PromptId} for backend {BackendId}; it is offered again after its visibility timeout",
                    delivery.Message.PromptId, _backend.Id);
            }
        }
    }

    /// <summary>Decides a command before any post: a disabled backend refuses it, a cancelled one ends, a duplicate is
    /// dropped and one found on the node already (a command delivered again after a crash) is tracked; each of these is
    /// acknowledged here and returns null. Otherwise the command is ready to post, its activity started.</summary>
    private async Task<PendingPost?> PrepareAsync(
        QueueDelivery<RunPromptCommand> delivery, PromptClaim claim, bool inThisBatch, CancellationToken cancellationToken)
    {
        var command = delivery.Message;
        var activity = delivery.StartProcessingActivity();
        var ready = false;
        try
        {
            if (claim.BackendClosed)
            {
                await RefuseAsync(delivery, cancellationToken);
                return null;
            }

            if (claim.CancelRequested)
            {
                await PublishAsync(command.PromptId, command.JobId, RenderEventKinds.Interrupted, e => e with { Error = "cancelled before it started" }, cancellationToken);
                await _queue.AckAsync(delivery, cancellationToken);
                return null;
            }

            if (!claim.Mine || claim.IsFinal || _prompts.Contains(command.PromptId) || inThisBatch)
            {
                _logger.LogInformation("Prompt {PromptId} is already {Status} on backend {Owner}; dropping the duplicate command",
                    command.PromptId, claim.Status ?? "claimed", claim.Owner);
                await _queue.AckAsync(delivery, cancellationToken);
                return null;
            }

            var prompt = command.Seed is { } seed ? PromptSeeds.Apply(command.Prompt, seed, command.SeedNodes) : command.Prompt;
            var record = new InFlightPrompt(command.PromptId, command.JobId, _time.GetUtcNow(), InFlightPrompt.NodeClassesOf(prompt));

            // A command delivered again after a crash may have been posted already: never post it twice. A first claim
            // needs no look at the node (its /queue lists every prompt waiting there, whole).
            if (claim.ClaimedBefore && await AdoptIfPostedAsync(record, claim, cancellationToken))
            {
                await _queue.AckAsync(delivery, cancellationToken);
                return null;
            }

            ready = true;
            return new PendingPost(delivery, record, new ComfyPromptRequest(command.PromptId, _clientId, prompt, command.Workflow, command.Priority), activity);
        }
        finally
        {
            if (!ready)
            {
                activity?.Dispose();
            }
        }
    }

    /// <summary>True when the node already has the prompt (queued, running or in its history); it is then
    /// tracked (and finished when it has ended) instead of posted.</summary>
    private async Task<bool> AdoptIfPostedAsync(InFlightPrompt record, PromptClaim claim, CancellationToken cancellationToken)
    {
        // /queue before /history: a prompt leaves the queue only once its history is written.
        var queue = await _comfy.GetQueueAsync(_node, cancellationToken);
        var history = queue.Contains(record.PromptId) ? null : await _comfy.GetHistoryAsync(_node, record.PromptId, cancellationToken);
        if (!queue.Contains(record.PromptId) && history is null)
        {
            return false;
        }

        _logger.LogInformation("Prompt {PromptId} was already posted to backend {BackendId}; tracking it", record.PromptId, _backend.Id);
        await _store.AddInFlightAsync(_backend.Id, record, cancellationToken);
        var tracked = _prompts.Track(record);
        if (claim.Status is null)
        {
            await PublishAsync(record.PromptId, record.JobId, RenderEventKinds.Accepted, e => e, cancellationToken);
        }

        if (history is not null)
        {
            await FinishAsync(tracked, history, cancellationToken);
        }

        return true;
    }

    // ---- socket events ---------------------------------------------------------------------------------------

    private async Task OnConnectedAsync(ComfySocketConnected connected, CancellationToken cancellationToken)
    {
        _disconnectedSince = null;
        // Events of the gap (or of the previous lease holder) are gone: ask the node what became of every prompt.
        await ReconcileAsync(cancellationToken);
        await CheckCancelsAsync(cancellationToken);
    }

    /// <summary>Stops every prompt in the node's queue (waiting or running) that is ours and has ended already: one
    /// given up as lost while the node could not be reached (and moved to another node since), or cancelled meanwhile.
    /// A node seen again after such a gap may still hold it, and it must not run twice. Our prompt ids are recognised
    /// by their state in Redis; prompts of other clients have none and are left alone.</summary>
    private async Task StopEndedPromptsAsync(ComfyQueueSnapshot queue, CancellationToken cancellationToken)
    {
        foreach (var promptId in queue.Pending.Concat(queue.Running))
        {
            if (!_prompts.Contains(promptId) && await _store.HasEndedAsync(promptId, cancellationToken))
            {
                _logger.LogWarning("Backend {BackendId} still holds prompt {PromptId}, which already ended (lost with the node or cancelled); removing it",
                    _backend.Id, promptId);
                await _comfy.CancelPromptAsync(_node, promptId, cancellationToken);
            }
        }
    }

    private Task OnDisconnected()
    {
        _disconnectedSince ??= _time.GetUtcNow();
        return Task.CompletedTask;
    }

    // ---- ending prompts --------------------------------------------------------------------------------------

    private async Task FinishFromHistoryOnceAsync(TrackedPrompt tracked, CancellationToken cancellationToken)
    {
        if (await _comfy.GetHistoryAsync(_node, tracked.Record.PromptId, cancellationToken) is { } entry)
        {
            await FinishAsync(tracked, entry, cancellationToken);
        }
    }

    private async Task FinishFromHistoryAsync(TrackedPrompt tracked, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= HistoryAttempts; attempt++)
        {
            var entry = await _comfy.GetHistoryAsync(_node, tracked.Record.PromptId, cancellationToken);
            if (entry is not null)
            {
                await FinishAsync(tracked, entry, cancellationToken);
                return;
            }

            // What the messages before this one reported is not held back while the node writes its history.
            await _prompts.FlushAsync(cancellationToken);
            await Task.Delay(HistoryRetryDelay, _time, cancellationToken);
        }

        _logger.LogWarning("Prompt {PromptId} ended on backend {BackendId} but its history is empty; the reconcile will decide",
            tracked.Record.PromptId, _backend.Id);
    }

    private async Task FinishAsync(TrackedPrompt tracked, ComfyHistoryEntry entry, CancellationToken cancellationToken)
    {
        _prompts.Remove(tracked.Record.PromptId);
        switch (entry.Outcome)
        {
            case ComfyOutcome.Succeeded:
                await PublishAsync(tracked, RenderEventKinds.Completed, e => e with { Percent = 100, Outputs = entry.Outputs }, cancellationToken);
                break;
            case ComfyOutcome.Failed:
                await PublishAsync(tracked, RenderEventKinds.Failed, e => e with
                {
                    Error = entry.Error, ErrorType = entry.ErrorType, Node = entry.Node, NodeClass = entry.NodeClass, Outputs = entry.Outputs,
                }, cancellationToken);
                break;
            default:
                var error = await _prompts.InterruptionReasonAsync(tracked.Record.PromptId, cancellationToken);
                await PublishAsync(tracked, RenderEventKinds.Interrupted, e => e with
                {
                    Error = error, Node = entry.Node, NodeClass = entry.NodeClass, Outputs = entry.Outputs,
                }, cancellationToken);
                break;
        }
    }

    private async Task LoseAsync(TrackedPrompt tracked, string reason, CancellationToken cancellationToken)
    {
        _prompts.Remove(tracked.Record.PromptId);
        await PublishAsync(tracked, RenderEventKinds.Failed, e => e with { Error = reason, ErrorType = RenderErrorTypes.BackendLost }, cancellationToken);
    }

    private async Task LoseAllAsync(string reason, CancellationToken cancellationToken)
    {
        _logger.LogWarning("Backend {BackendId}: {Reason} ({Count} prompts lost)", _backend.Id, reason, _prompts.Count);
        foreach (var tracked in _prompts.Snapshot())
        {
            await LoseAsync(tracked, reason, cancellationToken);
        }
    }

    /// <summary>Asks the node what became of every in-flight prompt (including ones the hash has that this session
    /// did not know): queued or running → still waiting; in history → ended as recorded; neither → lost. Prompts of
    /// ours the node holds that have ended already are removed from it (<see cref="StopEndedPromptsAsync"/>).</summary>
    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        _lastReconcile = _time.GetUtcNow();
        foreach (var prompt in await _store.ListInFlightAsync(_backend.Id, cancellationToken))
        {
            if (!_prompts.Contains(prompt.PromptId))
            {
                _prompts.Track(prompt);
            }
        }

        var queue = await _comfy.GetQueueAsync(_node, cancellationToken);
        await StopEndedPromptsAsync(queue, cancellationToken);
        foreach (var tracked in _prompts.Snapshot())
        {
            var promptId = tracked.Record.PromptId;
            if (queue.Contains(promptId))
            {
                // A prompt posted ahead is "running" only once the node starts it; its execution_start may have been
                // sent while the socket was down.
                if (!tracked.Started && queue.Running.Contains(promptId))
                {
                    await _prompts.PublishStartedAsync(tracked, cancellationToken);
                }

                continue;
            }

            var entry = await _comfy.GetHistoryAsync(_node, promptId, cancellationToken);
            if (entry is null)
            {
                // Ask once more: it may have been taken from the pending list, or finished, between the two reads.
                if ((await _comfy.GetQueueAsync(_node, cancellationToken)).Contains(promptId))
                {
                    continue;
                }

                entry = await _comfy.GetHistoryAsync(_node, promptId, cancellationToken);
            }

            if (entry is not null)
            {
                await FinishAsync(tracked, entry, cancellationToken);
            }
            else
            {
                await LoseAsync(tracked, $"Render node {_backend.Name} no longer has the prompt (it restarted or dropped it); retry it elsewhere.", cancellationToken);
            }
        }
    }

    // ---- cancel ----------------------------------------------------------------------------------------------

    private async Task OnCancelRequestedAsync(string promptId, CancellationToken cancellationToken)
    {
        if (!_prompts.TryGetValue(promptId, out var tracked))
        {
            // Not posted here (yet): the cancel key stops it when it is taken from a queue.
            return;
        }

        tracked.CancelRequested = true;
        await CancelOnNodeAsync(tracked, cancellationToken);
    }

    private async Task CheckCancelsAsync(CancellationToken cancellationToken)
    {
        foreach (var tracked in _prompts.Snapshot())
        {
            if (tracked.CancelRequested || await _store.IsCancelRequestedAsync(tracked.Record.PromptId, cancellationToken))
            {
                tracked.CancelRequested = true;
                await CancelOnNodeAsync(tracked, cancellationToken);
            }
        }
    }

    /// <summary>Deletes the prompt from the node's queue and interrupts it if it runs (never a global interrupt).
    /// A running prompt then ends with <c>execution_interrupted</c>; a pending one simply disappears, so it is
    /// reported here. Repeated by the tick until the prompt has ended, because an interrupt that arrives just as
    /// the prompt is taken from the queue misses it.</summary>
    private async Task CancelOnNodeAsync(TrackedPrompt tracked, CancellationToken cancellationToken)
    {
        var promptId = tracked.Record.PromptId;
        await _comfy.CancelPromptAsync(_node, promptId, cancellationToken);
        var queue = await _comfy.GetQueueAsync(_node, cancellationToken);
        if (queue.Contains(promptId))
        {
            return;
        }

        var entry = await _comfy.GetHistoryAsync(_node, promptId, cancellationToken);
        if (entry is not null)
        {
            await FinishAsync(tracked, entry, cancellationToken);
            return;
        }

        _prompts.Remove(promptId);
        await PublishAsync(tracked, RenderEventKinds.Interrupted, e => e with { Error = "cancelled before it started" }, cancellationToken);
    }

    // ---- health ----------------------------------------------------------------------------------------------

    private async Task OnTickAsync(CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _tickQueued, 0);
        // A receive the previous session sent just before it stopped may be carried out only now (after a Redis
        // outage the client sends what it had queued once the connection is back); its delivery is taken back here.
        await _queue.ReclaimAsync(_backendQueue, _consumer, cancellationToken);
        var state = await _states.GetAsync(_backend.Id, cancellationToken);
        _status = _backend.Enabled ? state?.Status : BackendStatuses.Disabled;
        _online = _backend.Enabled && state?.Online == true;
        var now = _time.GetUtcNow();
        if (_prompts.Count == 0)
        {
            // Nothing tracked is not nothing in flight: a prompt whose final event could not be written (Redis failed just
            // then) stays only in the in-flight hash, and a node that runs every prompt faster than a tick is never seen
            // busy. The reconcile finds such a prompt however idle the node is.
            if (Socket.IsConnected && now - _lastReconcile >= _options.ReconcileInterval)
            {
                await ReconcileAsync(cancellationToken);
            }

            return;
        }

        if (_disconnectedSince is { } since && now - since >= _options.OfflineGrace)
        {
            await LoseAllAsync(
                $"Render node {_backend.Name} went offline: its socket could not be reopened for {_options.OfflineGrace.TotalSeconds:0} s; retry the prompt elsewhere.",
                cancellationToken);
            return;
        }

        if (state is { Online: false } && !await RespondsAsync(cancellationToken))
        {
            await LoseAllAsync(
                $"Render node {_backend.Name} went offline ({state.LastError ?? state.Status}); retry the prompt elsewhere.", cancellationToken);
            return;
        }

        if (!Socket.IsConnected)
        {
            return;
        }

        if (now - Socket.LastFrameAt >= _options.SocketIdleTimeout)
        {
            Socket.Reconnect($"no frame for {_options.SocketIdleTimeout.TotalSeconds:0} s while prompts are in flight");
        }
        else if (now - _lastReconcile >= _options.ReconcileInterval)
        {
            await ReconcileAsync(cancellationToken);
        }

        foreach (var tracked in _prompts.Snapshot().Where(p => p.CancelRequested))
        {
            await CancelOnNodeAsync(tracked, cancellationToken);
        }
    }

    private async Task<bool> RespondsAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _comfy.GetQueueAsync(_node, cancellationToken);
            return true;
        }
        catch (ComfyUnreachableException)
        {
            return false;
        }
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    private Task PublishAsync(TrackedPrompt tracked, string kind, Func<RenderEvent, RenderEvent> details, CancellationToken cancellationToken) =>
        _prompts.PublishAsync(tracked, kind, details, cancellationToken);

    private Task PublishAsync(string promptId, string? jobId, string kind, Func<RenderEvent, RenderEvent> details, CancellationToken cancellationToken) =>
        _prompts.PublishAsync(promptId, jobId, kind, details, cancellationToken);

    private abstract record SessionWork;

    private sealed record SocketWork(ComfySocketEvent Event) : SessionWork;

    /// <summary>Commands taken together; <paramref name="ReceivedAt"/> (a timestamp of the session's clock) is when their
    /// leases began.</summary>
    private sealed record PostWork(IReadOnlyList<QueueDelivery<RunPromptCommand>> Deliveries, long ReceivedAt, TaskCompletionSource Handled) : SessionWork;

    private sealed record CancelWork(string PromptId) : SessionWork;

    private sealed record CheckCancelsWork : SessionWork
    {
        public static readonly CheckCancelsWork Instance = new();
    }

    private sealed record TickWork : SessionWork
    {
        public static readonly TickWork Instance = new();
    }
}
