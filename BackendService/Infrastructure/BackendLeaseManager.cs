using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Infrastructure;

/// <summary>
/// Makes exactly one replica at a time talk to each backend. Every <see cref="BackendLeaseOptions.RenewalInterval"/>
/// (and at once when the registry changes) a replica heartbeats in <see cref="BackendKeys.Replicas"/>, renews
/// its leases (<see cref="BackendKeys.Lease"/>, compare-and-pexpire), gives up a lease above its fair share
/// (ceil(backends / live replicas)) so a replica that joined later gets some, and takes unheld backends up to
/// that share; a backend without holder for more than one TTL is taken by anyone. For each held backend it runs
/// every <see cref="IBackendWorker"/> with a token cancelled when the lease is lost or not renewed in time, the
/// backend is deleted, or its definition changes (the workers then start again with the new definition).
/// A backend deleted while prompts are in flight on it is retiring (<see cref="BackendKeys.Retiring"/>): it is leased
/// like the others, its workers run with it disabled (no new prompt is taken; the prompts in flight are watched to
/// their end), and its holder lets go once none is left. A lease still held by this replica's dead predecessor (a
/// restarted process with the same service instance id) is taken over at once, and the predecessor no longer
/// counts as a live replica. So is a lease whose holder's Redis connection has closed: every replica subscribes to a
/// presence channel of its own (<see cref="BackendKeys.ReplicaPresence"/>) for as long as it lives, and a peer seen
/// subscribed once and then without subscriber for <see cref="BackendLeaseOptions.PresenceConfirmation"/> is dead (a
/// killed process's connections close at once), so its backends move without waiting for their leases to expire. A
/// replica whose own subscription connection breaks stops its workers at once (a peer may take it for dead and take
/// its backends) and starts them again, renewing its leases meanwhile, once a lease round finds it subscribed again (the
/// server counts a subscriber on its presence channel). On shutdown the leases are released, so another replica takes
/// over at its next round.
/// </summary>
public sealed class BackendLeaseManager(
    BackendRegistry registry,
    IRedisConnection redis,
    IEventBus eventBus,
    IRedisSubscriber subscriber,
    IEnumerable<IBackendWorker> workers,
    BackendReplica replica,
    IOptions<BackendLeaseOptions> options,
    TimeProvider timeProvider,
    ILogger<BackendLeaseManager> logger) : BackgroundService
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MaxWorkerRestartDelay = TimeSpan.FromSeconds(30);

    private readonly IBackendWorker[] _workers = workers.ToArray();
    private readonly BackendLeases _store = new(redis);
    private readonly Dictionary<string, HeldLease> _leases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _unheldSince = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0);
    private readonly BackendLeaseOptions _options = options.Value;

    // Presence: peers seen subscribed to their presence channel, and since when a seen peer has had no subscriber.
    private readonly HashSet<string> _seenPresent = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _absentSince = new(StringComparer.Ordinal);

    // Whether this replica's own presence subscription is active; cancelled (and replaced) when its connection fails.
    // The client reports a failure and the re-subscription on separate threads, in either order, so only a lease round
    // marks the replica present again, from the server's count of its presence channel's subscribers; the generation
    // tells that round whether a newer failure came in while it counted.
    private readonly Lock _presenceGate = new();
    private volatile bool _present;
    private long _failures;
    private CancellationTokenSource _subscriptionLost = new();

    /// <summary>The value this replica writes into its leases.</summary>
    public string ReplicaId => replica.Id;

    public bool Holds(string backendId) => replica.Holds(backendId);

    public IReadOnlyCollection<string> HeldBackends => replica.HeldBackends;

    // Workers get a little less than the lease's remaining life, so they stop before another replica can start.
    private TimeSpan SafetyMargin => TimeSpan.FromTicks(Math.Min(TimeSpan.FromMilliseconds(500).Ticks, _options.Ttl.Ticks / 10));

    // How long a round waits for the workers of a stopped lease before going on with the other leases.
    private TimeSpan WorkerStopWait => TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(2).Ticks, _options.Ttl.Ticks / 4));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        logger.LogInformation("Backend lease manager started as replica {Replica} ({Workers} workers per backend)", replica.Id, _workers.Length);
        IAsyncDisposable? subscription = null;
        IAsyncDisposable? presence = null;
        subscriber.SubscriptionsLost += OnSubscriptionsLost;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                subscription ??= await TrySubscribeAsync(stoppingToken);
                presence ??= await TryAnnouncePresenceAsync(stoppingToken);
                var wait = _options.RenewalInterval;
                using (var round = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
                {
                    round.CancelAfter(_options.Ttl);
                    try
                    {
                        if (await ReconcileAsync(round.Token))
                        {
                            // A peer's presence is gone: look again as soon as it can be confirmed dead.
                            wait = _options.PresenceConfirmation;
                        }
                    }
                    catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                    {
                        break;
                    }
                    catch (Exception ex)
                    {
                        logger.LogWarning(ex, "Backend lease round failed; held leases stop when they expire unless the next round renews them");
                    }
                }

                try
                {
                    if (await _wake.WaitAsync(wait, stoppingToken))
                    {
                        while (_wake.CurrentCount > 0)
                        {
                            await _wake.WaitAsync(0, stoppingToken);
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            subscriber.SubscriptionsLost -= OnSubscriptionsLost;
            await ShutdownAsync();
            foreach (var (handle, channel) in new[] { (subscription, BackendKeys.RegistryChanges), (presence, BackendKeys.ReplicaPresence(replica.Id)) })
            {
                try
                {
                    if (handle is not null)
                    {
                        await handle.DisposeAsync();
                    }
                }
                catch (Exception ex)
                {
                    logger.LogDebug(ex, "Could not unsubscribe from {Channel}", channel);
                }
            }
        }
    }

    /// <summary>Subscribes to this replica's presence channel; until it is, no worker runs (a peer would see no
    /// subscriber and take this replica for dead once it has seen it subscribed).</summary>
    private async Task<IAsyncDisposable?> TryAnnouncePresenceAsync(CancellationToken cancellationToken)
    {
        var channel = BackendKeys.ReplicaPresence(replica.Id);
        var failures = Interlocked.Read(ref _failures);
        try
        {
            var handle = await subscriber.SubscribeAsync(
                channel,
                (_, _, _) => Task.CompletedTask,
                _ =>
                {
                    // The round that follows counts the subscription and starts the workers again.
                    _wake.Release();
                    return Task.CompletedTask;
                },
                cancellationToken: cancellationToken);
            // A failure reported meanwhile leaves it to a round to count the subscription.
            TryMarkPresent(failures);
            return handle;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Could not subscribe to {Channel}; this replica runs no backend until it has", channel);
            return null;
        }
    }

    /// <summary>The connection carrying this replica's presence broke: a peer may take it for dead and take its
    /// backends, so every worker stops now rather than when its lease would have run out.</summary>
    private void OnSubscriptionsLost()
    {
        CancellationTokenSource lost;
        lock (_presenceGate)
        {
            Interlocked.Increment(ref _failures);
            if (!_present)
            {
                return;
            }

            _present = false;
            lost = Interlocked.Exchange(ref _subscriptionLost, new CancellationTokenSource());
        }

        logger.LogWarning("The Redis subscription connection failed; the workers of {Count} held backends stop until this replica is subscribed again",
            replica.HeldBackends.Count);
        try
        {
            lost.Cancel();
        }
        catch (AggregateException ex)
        {
            logger.LogError(ex, "Stopping the workers after the subscription connection failed raised errors");
        }

        _wake.Release();
    }

    private async Task<IAsyncDisposable?> TrySubscribeAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await eventBus.SubscribeAsync<BackendRegistryChanged>(
                BackendKeys.RegistryChanges,
                (_, _) =>
                {
                    _wake.Release();
                    return Task.CompletedTask;
                },
                _ =>
                {
                    _wake.Release();
                    return Task.CompletedTask;
                },
                cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Could not subscribe to {Channel}; registry changes are seen at the next renewal", BackendKeys.RegistryChanges);
            return null;
        }
    }

    /// <summary>Marks this replica present again once the server counts a subscriber on its presence channel, and no
    /// failure was reported while it counted. The client's notice of the re-subscription is only a wake-up: its notice
    /// of the failure may come after it (the two are raised on different threads), and the workers would then stay
    /// stopped for good.</summary>
    private async Task RegainPresenceAsync(CancellationToken cancellationToken)
    {
        var channel = BackendKeys.ReplicaPresence(replica.Id);
        var failures = Interlocked.Read(ref _failures);
        if ((await redis.SubscriberCountsAsync([channel], cancellationToken))[0] > 0 && TryMarkPresent(failures))
        {
            logger.LogInformation("Subscribed to {Channel} again; the workers of the backends still held start again", channel);
        }
    }

    /// <summary>Present, unless a failure was reported since <paramref name="failuresBefore"/> was read.</summary>
    private bool TryMarkPresent(long failuresBefore)
    {
        lock (_presenceGate)
        {
            if (_failures != failuresBefore || _present)
            {
                return false;
            }

            _present = true;
            return true;
        }
    }

    /// <summary>One lease round; true when a peer's presence has just gone and is to be confirmed soon.</summary>
    private async Task<bool> ReconcileAsync(CancellationToken cancellationToken)
    {
        if (!_present)
        {
            await RegainPresenceAsync(cancellationToken);
        }

        var startedAt = timeProvider.GetUtcNow();
        var ttl = _options.Ttl;
        var nowMs = startedAt.ToUnixTimeMilliseconds();
        await redis.SortedSetAddAsync(BackendKeys.Replicas, replica.Id, nowMs + (long)ttl.TotalMilliseconds, cancellationToken);
        await redis.SortedSetRemoveRangeByScoreAsync(BackendKeys.Replicas, double.NegativeInfinity, nowMs, Exclude.Stop, cancellationToken);
        var members = await ForgetPredecessorsAsync(cancellationToken);
        var definitions = (await registry.ListAsync(cancellationToken)).ToDictionary(b => b.Id, StringComparer.Ordinal);
        var retiring = new HashSet<string>(StringComparer.Ordinal);
        foreach (var deleted in await registry.ListRetiringAsync(cancellationToken))
        {
            if (definitions.TryAdd(deleted.Id, deleted with { Enabled = false }))
            {
                retiring.Add(deleted.Id);
            }
        }

        var holders = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var id in definitions.Keys.Where(id => !_leases.ContainsKey(id)))
        {
            holders[id] = await _store.HolderAsync(id, cancellationToken);
        }

        var (dead, confirming) = await FindDeadPeersAsync(members.Concat(holders.Values.OfType<string>()), startedAt, cancellationToken);
        var live = (int)Math.Max(1, await redis.SortedSetLengthAsync(BackendKeys.Replicas, nowMs, double.PositiveInfinity, cancellationToken));

        var fairShare = (definitions.Count + live - 1) / live;

        foreach (var lease in _leases.Values.ToArray())
        {
            if (!definitions.TryGetValue(lease.BackendId, out var definition))
            {
                await ReleaseAsync(lease, "the backend was deleted", cancellationToken);
                continue;
            }

            if (retiring.Contains(lease.BackendId) && await registry.CompleteRetirementAsync(lease.BackendId, cancellationToken))
            {
                await ReleaseAsync(lease, "the backend was deleted and its last prompts have ended", cancellationToken);
                continue;
            }

            var renewed = await _store.RenewAsync(lease.BackendId, replica.Id, ttl, cancellationToken);
            if (!renewed)
            {
                logger.LogWarning("Lost the lease of backend {Id} (it expired or another replica holds it)", lease.BackendId);
                await StopSessionAsync(lease);
                _leases.Remove(lease.BackendId);
                continue;
            }

            lease.ValidUntil = startedAt + ttl;
            var changed = BackendRegistry.Serialize(definition) != lease.Session.DefinitionJson;
            if (!_present)
            {
                // The workers stopped when the subscription broke (or stop now); they start again once it is back.
                lease.Session.Cancellation.CancelAfter(Remaining(lease));
            }
            else if (changed || lease.Session.Cancellation.IsCancellationRequested)
            {
                if (changed)
                {
                    logger.LogInformation("Backend {Id} changed; restarting its workers", lease.BackendId);
                }

                await StopSessionAsync(lease);
                StartSession(lease, definition);
            }
            else
            {
                lease.Session.Cancellation.CancelAfter(Remaining(lease));
            }
        }

        if (_leases.Count > fairShare)
        {
            var surplus = _leases.Values.MaxBy(l => l.AcquiredAt)!;
            await ReleaseAsync(surplus, $"this replica holds {_leases.Count} backends and its fair share of {definitions.Count} among {live} replicas is {fairShare}",
                cancellationToken);
        }

        foreach (var definition in _present ? definitions.Values.Where(d => !_leases.ContainsKey(d.Id)).OrderBy(d => HashCode.Combine(replica.Id, d.Id)) : Enumerable.Empty<BackendDefinition>())
        {
            var holder = holders[definition.Id];
            if (holder is not null && (replica.IsPredecessor(holder) || dead.Contains(holder)))
            {
                // Its holder is dead (this replica replaced it, or its connection closed): waiting for the lease to
                // expire would only delay dispatch.
                _unheldSince.Remove(definition.Id);
                if (await _store.TakeOverAsync(definition.Id, holder, replica.Id, ttl, cancellationToken))
                {
                    var lease = new HeldLease(definition.Id, startedAt) { ValidUntil = startedAt + ttl };
                    _leases[definition.Id] = lease;
                    StartSession(lease, definition);
                    logger.LogInformation("Took over the lease of backend {Id} from {Holder}, {Why}", definition.Id, holder,
                        dead.Contains(holder) ? "whose Redis connection has closed" : "the process this replica replaced");
                }

                continue;
            }

            var orphaned = _unheldSince.TryGetValue(definition.Id, out var since) && startedAt - since > ttl;
            if (_leases.Count >= fairShare && !orphaned)
            {
                if (holder is not null)
                {
                    _unheldSince.Remove(definition.Id);
                }
                else
                {
                    _unheldSince.TryAdd(definition.Id, startedAt);
                }

                continue;
            }

            _unheldSince.Remove(definition.Id);
            if (await _store.TryAcquireAsync(definition.Id, replica.Id, ttl, cancellationToken))
            {
                var lease = new HeldLease(definition.Id, startedAt) { ValidUntil = startedAt + ttl };
                _leases[definition.Id] = lease;
                StartSession(lease, definition);
                logger.LogInformation("Took the lease of backend {Id}{Why}", definition.Id, orphaned ? " (it had no holder for more than one lease period)" : "");
            }
        }

        foreach (var id in _unheldSince.Keys.Where(id => !definitions.ContainsKey(id)).ToArray())
        {
            _unheldSince.Remove(id);
        }

        return confirming;
    }

    /// <summary>Drops the heartbeats of this replica's dead predecessors, so they do not lower the fair share; returns
    /// the other replicas with a heartbeat.</summary>
    private async Task<IReadOnlyList<string>> ForgetPredecessorsAsync(CancellationToken cancellationToken)
    {
        var members = await redis.SortedSetRangeByRankAsync(BackendKeys.Replicas, cancellationToken: cancellationToken);
        foreach (var member in members.Where(replica.IsPredecessor))
        {
            await redis.SortedSetRemoveAsync(BackendKeys.Replicas, member, cancellationToken);
            logger.LogInformation("Replica {Predecessor} was replaced by this one ({Replica}); its heartbeat is dropped", member, replica.Id);
        }

        return members.Where(m => m != replica.Id && !replica.IsPredecessor(m)).ToArray();
    }

    /// <summary>
    /// The peers (replicas with a heartbeat, and lease holders) whose presence channel has had no subscriber for
    /// <see cref="BackendLeaseOptions.PresenceConfirmation"/> after they were seen subscribed: their Redis connection
    /// closed, so they are dead, and their heartbeats are dropped. Only a peer seen subscribed counts, so a replica
    /// that never announces itself (an older version, or one that could not subscribe yet) only loses its leases
    /// when they expire. Also says whether a peer's presence has just gone, to be confirmed at a round soon.
    /// </summary>
    private async Task<(HashSet<string> Dead, bool Confirming)> FindDeadPeersAsync(
        IEnumerable<string> candidates, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var peers = candidates.Where(p => p != replica.Id && !replica.IsPredecessor(p)).Distinct(StringComparer.Ordinal).ToArray();
        _seenPresent.IntersectWith(peers);
        foreach (var gone in _absentSince.Keys.Except(peers, StringComparer.Ordinal).ToArray())
        {
            _absentSince.Remove(gone);
        }

        var dead = new HashSet<string>(StringComparer.Ordinal);
        if (peers.Length == 0)
        {
            return (dead, false);
        }

        var confirming = false;
        var counts = await redis.SubscriberCountsAsync(peers.Select(BackendKeys.ReplicaPresence).ToArray(), cancellationToken);
        for (var i = 0; i < peers.Length; i++)
        {
            var peer = peers[i];
            if (counts[i] > 0)
            {
                _seenPresent.Add(peer);
                _absentSince.Remove(peer);
                continue;
            }

            if (!_seenPresent.Contains(peer))
            {
                continue;
            }

            if (!_absentSince.TryGetValue(peer, out var since))
            {
                _absentSince[peer] = now;
                confirming = true;
                continue;
            }

            if (now - since < _options.PresenceConfirmation)
            {
                confirming = true;
                continue;
            }

            dead.Add(peer);
            if (await redis.SortedSetRemoveAsync(BackendKeys.Replicas, peer, cancellationToken))
            {
                logger.LogInformation("Replica {Peer} has had no Redis connection for {Absent} ms: taken for dead, its heartbeat is dropped and its leases are taken",
                    peer, (long)(now - since).TotalMilliseconds);
            }
        }

        return (dead, confirming);
    }

    private TimeSpan Remaining(HeldLease lease)
    {
        var remaining = lease.ValidUntil - timeProvider.GetUtcNow() - SafetyMargin;
        return remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
    }

    private void StartSession(HeldLease lease, BackendDefinition definition)
    {
        var cancellation = new CancellationTokenSource(Remaining(lease), timeProvider);
        var session = new LeaseSession(BackendRegistry.Serialize(definition), cancellation);
        lease.Session = session;
        session.OnSubscriptionLost = Volatile.Read(ref _subscriptionLost).Token.Register(static state => ((CancellationTokenSource)state!).Cancel(), cancellation);
        replica.MarkHeld(lease.BackendId);
        cancellation.Token.Register(() =>
        {
            // A session replaced by a newer one must not mark the backend released.
            if (ReferenceEquals(lease.Session, session))
            {
                replica.MarkReleased(lease.BackendId);
            }
        });
        if (!_present)
        {
            // The subscription broke while the session was being started (after the round checked it).
            cancellation.Cancel();
        }

        session.Workers = _workers.Select(worker => Task.Run(() => SuperviseAsync(worker, definition, cancellation.Token))).ToArray();
    }

    /// <summary>Runs one worker until the session ends, starting it again (with back-off) if it fails or returns early.</summary>
    private async Task SuperviseAsync(IBackendWorker worker, BackendDefinition backend, CancellationToken leaseLost)
    {
        var delay = TimeSpan.FromSeconds(1);
        while (!leaseLost.IsCancellationRequested)
        {
            try
            {
                await worker.RunAsync(backend, leaseLost);
                if (leaseLost.IsCancellationRequested)
                {
                    return;
                }

                logger.LogWarning("{Worker} returned for backend {Id} while the lease is held; restarting it in {Delay}", worker.GetType().Name, backend.Id, delay);
            }
            catch (OperationCanceledException) when (leaseLost.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "{Worker} failed for backend {Id}; restarting it in {Delay}", worker.GetType().Name, backend.Id, delay);
            }

            try
            {
                await Task.Delay(delay, timeProvider, leaseLost);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxWorkerRestartDelay.Ticks));
        }
    }

    private async Task StopSessionAsync(HeldLease lease)
    {
        var session = lease.Session;
        await session.OnSubscriptionLost.DisposeAsync();
        await session.Cancellation.CancelAsync();
        try
        {
            await Task.WhenAll(session.Workers).WaitAsync(WorkerStopWait);
            session.Cancellation.Dispose();
        }
        catch (TimeoutException)
        {
            logger.LogWarning("The workers of backend {Id} did not stop within {Wait}; going on without them", lease.BackendId, WorkerStopWait);
        }
    }

    private async Task ReleaseAsync(HeldLease lease, string reason, CancellationToken cancellationToken)
    {
        await StopSessionAsync(lease);
        _leases.Remove(lease.BackendId);
        replica.MarkReleased(lease.BackendId);
        await _store.ReleaseAsync(lease.BackendId, replica.Id, cancellationToken);
        logger.LogInformation("Released the lease of backend {Id}: {Reason}", lease.BackendId, reason);
    }

    private async Task ShutdownAsync()
    {
        using var timeout = new CancellationTokenSource(ShutdownTimeout);
        var leases = _leases.Values.ToArray();
        await Task.WhenAll(leases.Select(StopSessionAsync));
        foreach (var lease in leases)
        {
            replica.MarkReleased(lease.BackendId);
            try
            {
                await _store.ReleaseAsync(lease.BackendId, replica.Id, timeout.Token);
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Could not release the lease of backend {Id}; it expires on its own", lease.BackendId);
            }
        }

        _leases.Clear();
        try
        {
            await redis.SortedSetRemoveAsync(BackendKeys.Replicas, replica.Id, timeout.Token);
        }
        catch (Exception ex)
        {
            logger.LogDebug(ex, "Could not remove replica {Replica} from {Key}", replica.Id, BackendKeys.Replicas);
        }

        logger.LogInformation("Backend lease manager stopped; released {Count} leases", leases.Length);
    }

    public override void Dispose()
    {
        _wake.Dispose();
        _subscriptionLost.Dispose();
        base.Dispose();
    }

    private sealed class HeldLease(string backendId, DateTimeOffset acquiredAt)
    {
        public string BackendId { get; } = backendId;

        public DateTimeOffset AcquiredAt { get; } = acquiredAt;

        public DateTimeOffset ValidUntil { get; set; }

        public LeaseSession Session { get; set; } = null!;
    }

    /// <summary>One run of the workers for one definition of a held backend.</summary>
    private sealed class LeaseSession(string definitionJson, CancellationTokenSource cancellation)
    {
        public string DefinitionJson { get; } = definitionJson;

        public CancellationTokenSource Cancellation { get; } = cancellation;

        /// <summary>Cancels <see cref="Cancellation"/> when the subscription connection fails.</summary>
        public CancellationTokenRegistration OnSubscriptionLost { get; set; }

        public Task[] Workers { get; set; } = [];
    }
}
