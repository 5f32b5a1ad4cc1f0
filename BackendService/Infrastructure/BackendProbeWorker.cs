using DirectorsConsole.BackendService.Comfy;
using DirectorsConsole.Comfy;
using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Infrastructure;

/// <summary>
/// Probes a held backend: <c>/system_stats</c> and <c>/queue</c> every <see cref="BackendProbeOptions.Interval"/>,
/// each bounded by <see cref="BackendProbeOptions.Timeout"/> (so a node that accepts connections but never
/// answers is offline as surely as one that refuses them), and <c>/object_info</c> whenever the node comes
/// (back) online and every <see cref="BackendProbeOptions.ObjectInfoInterval"/>. Saves the result as the
/// backend's runtime state. A disabled backend is not probed; its state says <c>disabled</c>.
/// </summary>
public sealed class BackendProbeWorker(
    IHttpClientFactory httpClientFactory,
    BackendStateStore states,
    BackendReplica replica,
    NodeMonitorReadings monitorReadings,
    Agents.AgentPresenceStore agents,
    IOptions<Agents.AgentOptions> agentOptions,
    IOptions<BackendProbeOptions> options,
    TimeProvider timeProvider,
    ILogger<BackendProbeWorker> logger) : IBackendWorker
{
    private readonly BackendProbeOptions _options = options.Value;

    public async Task RunAsync(BackendDefinition backend, CancellationToken leaseLost)
    {
        try
        {
            var previous = await ReadPreviousAsync(backend, leaseLost);
            if (!backend.Enabled)
            {
                await SaveAsync(previous with { Status = BackendStatuses.Disabled, UpdatedAt = timeProvider.GetUtcNow(), QueueRunning = 0, QueuePending = 0 }, leaseLost);
                await Task.Delay(Timeout.InfiniteTimeSpan, timeProvider, leaseLost);
                return;
            }

            // Capabilities an earlier holder discovered are shown until this session has read them again.
            var session = new ProbeSession();
            while (!leaseLost.IsCancellationRequested)
            {
                var started = timeProvider.GetUtcNow();
                var state = backend.IsAgent ? await ReadAgentAsync(backend, previous, leaseLost) : await ProbeAsync(backend, previous, session, leaseLost);
                await SaveAsync(state, leaseLost);
                previous = state;
                var wait = _options.Interval - (timeProvider.GetUtcNow() - started);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, timeProvider, leaseLost);
                }
            }
        }
        catch (OperationCanceledException) when (leaseLost.IsCancellationRequested)
        {
            // The lease ended: another replica (or this one, with a new definition) probes from now on.
        }
    }

    private async Task<BackendRuntimeState> ProbeAsync(BackendDefinition backend, BackendRuntimeState previous, ProbeSession session, CancellationToken leaseLost)
    {
        var client = new ComfyHttpClient(httpClientFactory.CreateClient(ComfyHttpClient.HttpClientName));
        var now = timeProvider.GetUtcNow();
        ComfySystemStats stats;
        ComfyQueueCounts queue;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(leaseLost))
        {
            timeout.CancelAfter(_options.Timeout);
            var statsProbe = client.GetSystemStatsAsync(backend.BaseAddress, timeout.Token);
            var queueProbe = client.GetQueueAsync(backend.BaseAddress, timeout.Token);
            try
            {
                await Task.WhenAll(statsProbe, queueProbe);
                stats = await statsProbe;
                queue = await queueProbe;
            }
            catch (OperationCanceledException) when (!leaseLost.IsCancellationRequested)
            {
                session.ObjectInfoReadAt = null;
                return Offline(previous, now, $"{backend.BaseAddress} did not answer /system_stats and /queue within {_options.Timeout.TotalSeconds:0.###} s");
            }
            catch (ComfyRequestException ex)
            {
                session.ObjectInfoReadAt = null;
                return Offline(previous, now, $"{backend.BaseAddress}: {ex.Message}");
            }
        }

        var discovered = previous.Discovered;
        if (session.ObjectInfoReadAt is not { } readAt || now - readAt >= _options.ObjectInfoInterval)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(leaseLost);
            timeout.CancelAfter(_options.ObjectInfoTimeout);
            try
            {
                discovered = (await client.GetObjectInfoAsync(backend.BaseAddress, timeout.Token)).ToDiscovered(now);
                session.ObjectInfoReadAt = now;
                logger.LogInformation("Backend {Id} offers {Classes} node classes, {Checkpoints} checkpoints, {Unets} UNets, {Loras} LoRAs and {Vaes} VAEs",
                    backend.Id, discovered.NodeClasses.Count, discovered.Checkpoints.Count, discovered.Unets.Count, discovered.Loras.Count, discovered.Vaes.Count);
            }
            catch (Exception ex) when (ex is ComfyRequestException || ex is OperationCanceledException && !leaseLost.IsCancellationRequested)
            {
                // The node answers, so it is online; its capabilities are read again at the next probe.
                logger.LogWarning("Could not read /object_info of backend {Id}: {Reason}", backend.Id,
                    ex is ComfyRequestException ? ex.Message : $"no answer within {_options.ObjectInfoTimeout.TotalSeconds:0.###} s");
            }
        }

        var inFlight = await states.GetInFlightAsync(backend.Id, leaseLost);
        long? vramUsed = stats.VramTotal is { } total && stats.VramFree is { } free ? total - free : null;
        var monitor = monitorReadings.Latest(backend.Id, now, _options.MonitorMaxAge);
        return new BackendRuntimeState(backend.Id, BackendStateStore.StatusOf(true, true, queue.Running, queue.Pending, inFlight), now)
        {
            GpuName = stats.GpuName,
            GpuMemoryTotal = stats.VramTotal,
            GpuMemoryFree = stats.VramFree,
            GpuMemoryUsed = vramUsed,
            GpuMemoryPercent = vramUsed is { } used && stats.VramTotal is > 0 ? Math.Round(100.0 * used / stats.VramTotal.Value, 1) : null,
            RamTotal = stats.RamTotal,
            RamFree = stats.RamFree,
            RamUsed = stats.RamTotal is { } ramTotal && stats.RamFree is { } ramFree ? ramTotal - ramFree : null,
            GpuUtilization = monitor?.GpuUtilization,
            GpuTemperature = monitor?.GpuTemperature,
            CpuUtilization = monitor?.CpuUtilization,
            Os = stats.Os,
            ComfyuiVersion = stats.ComfyuiVersion,
            QueueRunning = queue.Running,
            QueuePending = queue.Pending,
            InFlightJobs = inFlight,
            LastSeen = now,
            LastError = null,
            Discovered = discovered,
        };
    }

    /// <summary>A render agent is not probed (nothing connects to it): its state comes from what it last reported, and it
    /// is offline once it has not been heard from for <see cref="Agents.AgentOptions.HeartbeatTtl"/>. Its registration
    /// fills the discovered capabilities as <c>/object_info</c> fills a node's.</summary>
    private async Task<BackendRuntimeState> ReadAgentAsync(BackendDefinition backend, BackendRuntimeState previous, CancellationToken leaseLost)
    {
        var now = timeProvider.GetUtcNow();
        var presence = await agents.GetAsync(backend.Id, leaseLost);
        var ttl = agentOptions.Value.HeartbeatTtl;
        var capabilities = presence.Registration?.Capabilities;
        var discovered = capabilities is null
            ? previous.Discovered
            : new DiscoveredCapabilities(Strings(capabilities.NodeClasses), Strings(capabilities.Models), [], [], [], presence.LastSeen);
        var known = previous with
        {
            GpuName = capabilities?.Gpu ?? previous.GpuName,
            GpuMemoryTotal = capabilities?.VramBytes ?? previous.GpuMemoryTotal,
            ComfyuiVersion = capabilities?.ComfyuiVersion ?? previous.ComfyuiVersion,
            Discovered = discovered,
        };
        if (presence.LastSeen is not { } seen)
        {
            return Offline(known, now, "the render agent has not registered");
        }

        if (now - seen > ttl)
        {
            return Offline(known, now, $"no heartbeat from the render agent for {(now - seen).TotalSeconds:0} s (TTL {ttl.TotalSeconds:0.###} s)");
        }

        var report = presence.Report;
        var inFlight = await states.GetInFlightAsync(backend.Id, leaseLost);
        var queueRunning = report?.QueueRunning ?? 0;
        var queuePending = report?.QueuePending ?? 0;
        long? vramUsed = report?.GpuMemoryUsed;
        return known with
        {
            Status = BackendStateStore.StatusOf(true, true, queueRunning, queuePending, inFlight),
            UpdatedAt = now,
            GpuMemoryUsed = vramUsed,
            GpuMemoryFree = vramUsed is { } used && known.GpuMemoryTotal is { } total ? total - used : null,
            GpuMemoryPercent = vramUsed is { } usedBytes && known.GpuMemoryTotal is > 0 ? Math.Round(100.0 * usedBytes / known.GpuMemoryTotal.Value, 1) : null,
            QueueRunning = queueRunning,
            QueuePending = queuePending,
            InFlightJobs = inFlight,
            LastSeen = seen,
            LastError = null,
        };
    }

    private static IReadOnlyList<string> Strings(IReadOnlyList<string?>? values) =>
        values?.OfType<string>().Select(value => value.Trim()).Where(value => value.Length > 0).Distinct(StringComparer.Ordinal).ToArray() ?? [];

    /// <summary>The node did not answer: what is known about its hardware stays, the queue is unknown (0), and so
    /// are its loads.</summary>
    private static BackendRuntimeState Offline(BackendRuntimeState previous, DateTimeOffset now, string error) =>
        previous with
        {
            Status = BackendStatuses.Offline, UpdatedAt = now, QueueRunning = 0, QueuePending = 0, LastError = error,
            GpuUtilization = null, GpuTemperature = null, CpuUtilization = null,
        };

    private async Task<BackendRuntimeState> ReadPreviousAsync(BackendDefinition backend, CancellationToken leaseLost)
    {
        try
        {
            if (await states.GetAsync(backend.Id, leaseLost) is { } stored)
            {
                return stored;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Could not read the last state of backend {Id}; starting from none", backend.Id);
        }

        return new BackendRuntimeState(backend.Id, BackendStatuses.Offline, timeProvider.GetUtcNow()) { LastError = "not probed yet" };
    }

    private async Task SaveAsync(BackendRuntimeState state, CancellationToken leaseLost)
    {
        try
        {
            await states.SaveAsync(state, replica.Id, leaseLost);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Could not save the state of backend {Id}; the next probe tries again", state.BackendId);
        }
    }

    /// <summary>What one lease session remembers between probes: when <c>/object_info</c> was last read (null
    /// after the node went offline, so it is read again on reconnect).</summary>
    private sealed class ProbeSession
    {
        public DateTimeOffset? ObjectInfoReadAt { get; set; }
    }
}
