using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Backends;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>Backend choice for queued jobs and fail-over, without Redis.</summary>
public sealed class SchedulingPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 2, 1, 7, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(60);

    private static BackendLoad Backend(string id, long assigned = 0, int max = 1, bool online = true, bool enabled = true,
        int queue = 0, long vram = 0, string[]? capabilities = null, string[]? nodes = null, DateTimeOffset? lastSeen = null,
        int? prefetch = null, int defaultPrefetch = 0, int pinnedPrefetch = 0)
    {
        var definition = new BackendDefinition(id, id, "127.0.0.1", 8188, enabled, capabilities ?? [], max, [], BackendSource.Config) { Prefetch = prefetch };
        var state = new BackendRuntimeState(id, online ? BackendStatuses.Idle : BackendStatuses.Offline, Now)
        {
            QueuePending = queue,
            GpuMemoryFree = vram,
            LastSeen = lastSeen ?? Now,
            Discovered = DiscoveredCapabilities.None with { NodeClasses = nodes ?? ["KSampler"] },
        };
        return new BackendLoad(new BackendEntry(definition, state), assigned, defaultPrefetch, pinnedPrefetch);
    }

    private static StoredJob Job(string? target = null, string? affinity = null, string[]? required = null, string[]? attempts = null,
        string[]? preferred = null, DateTimeOffset? queuedAt = null) => new(
        new JobRecord("job-1", JobStatuses.Queued, Now)
        {
            BackendAffinity = affinity, RequiredCapabilities = required ?? [], Attempts = attempts ?? [], PreferredBackendIds = preferred ?? [],
            QueuedAt = queuedAt ?? Now, BackendId = target,
        },
        new JobEngineState { Target = target },
        1);

    private static string? Chosen(SchedulingDecision decision) => (decision as DispatchTo)?.Backend.Id;

    [Fact]
    public void LeastLoadedBySlotsThenQueueDepthThenFreeVram()
    {
        Assert.Equal("b", Chosen(SchedulingPolicy.Decide(Job(), [Backend("a", assigned: 1, max: 2), Backend("b", assigned: 0, max: 1)], Now, Grace)));
        Assert.Equal("b", Chosen(SchedulingPolicy.Decide(Job(), [Backend("a", queue: 3), Backend("b", queue: 1)], Now, Grace)));
        Assert.Equal("b", Chosen(SchedulingPolicy.Decide(Job(), [Backend("a", vram: 1), Backend("b", vram: 2)], Now, Grace)));
    }

    [Fact]
    public void FullBackendsMakeTheJobWait()
    {
        Assert.IsType<KeepWaiting>(SchedulingPolicy.Decide(Job(), [Backend("a", assigned: 1), Backend("b", assigned: 2, max: 2)], Now, Grace));
    }

    [Fact]
    public void ABackendHoldsItsRunningSlotsAndItsPrefetchItsOwnOrTheDefault()
    {
        // One slot and the default prefetch 1: a second job is sent to wait in the node's queue, a third waits here
        Assert.Equal("a", Chosen(SchedulingPolicy.Decide(Job(), [Backend("a", assigned: 1, defaultPrefetch: 1)], Now, Grace)));
        Assert.IsType<KeepWaiting>(SchedulingPolicy.Decide(Job(), [Backend("a", assigned: 2, defaultPrefetch: 1)], Now, Grace));
        // The backend's own prefetch wins over the default, 0 included
        Assert.IsType<KeepWaiting>(SchedulingPolicy.Decide(Job(), [Backend("a", assigned: 1, prefetch: 0, defaultPrefetch: 2)], Now, Grace));
        Assert.Equal(4, Backend("a", max: 2, prefetch: 2, defaultPrefetch: 1).Limit);
        // A node with a job waiting in its queue is more loaded than an idle one of the same size
        Assert.Equal("b", Chosen(SchedulingPolicy.Decide(Job(), [Backend("a", assigned: 1, defaultPrefetch: 1), Backend("b", defaultPrefetch: 1)], Now, Grace)));
    }

    [Fact]
    public void AJobPinnedToABackendMayWaitInItsQueueUpToThePinnedPrefetchAndOtherJobsOnlyUpToTheDefault()
    {
        // One slot, default prefetch 1, pinned prefetch 8: nine pinned jobs may be sent, an unpinned one only while fewer than two are
        BackendLoad Loaded(long assigned, int? prefetch = null) => Backend("a", assigned: assigned, prefetch: prefetch, defaultPrefetch: 1, pinnedPrefetch: 8);
        var target = SchedulingPolicy.Decide(Job(target: "a"), [Loaded(8)], Now, Grace);
        Assert.Equal(("a", 9), ((target as DispatchTo)?.Backend.Id, (target as DispatchTo)?.Limit));
        Assert.IsType<KeepWaiting>(SchedulingPolicy.Decide(Job(target: "a"), [Loaded(9)], Now, Grace));
        Assert.Equal("a", Chosen(SchedulingPolicy.Decide(Job(affinity: "a"), [Loaded(8)], Now, Grace)));
        Assert.IsType<KeepWaiting>(SchedulingPolicy.Decide(Job(), [Loaded(2)], Now, Grace));
        Assert.Equal(2, (SchedulingPolicy.Decide(Job(), [Loaded(1)], Now, Grace) as DispatchTo)?.Limit);
        // The backend's own prefetch wins for pinned jobs too; a pinned prefetch below the default changes nothing
        Assert.IsType<KeepWaiting>(SchedulingPolicy.Decide(Job(target: "a"), [Loaded(1, prefetch: 0)], Now, Grace));
        Assert.Equal(3, Backend("a", defaultPrefetch: 2, pinnedPrefetch: 1).LimitFor(pinned: true));
    }

    [Fact]
    public void OnlyEnabledOnlineBackendsWithTheCapabilitiesAreEligible()
    {
        BackendLoad[] backends = [Backend("a", enabled: false), Backend("b", online: false), Backend("c", nodes: ["Other"]), Backend("d", capabilities: ["flux"], nodes: ["Other"])];

        Assert.Equal("d", Chosen(SchedulingPolicy.Decide(Job(required: ["flux"]), backends, Now, Grace)));
        Assert.Equal("c", Chosen(SchedulingPolicy.Decide(Job(required: ["Other"]), backends, Now, Grace)));
        Assert.IsType<KeepWaiting>(SchedulingPolicy.Decide(Job(required: ["KSampler"]), backends, Now, Grace));
    }

    [Fact]
    public void NothingCapableFailsAfterTheGrace()
    {
        BackendLoad[] backends = [Backend("a", nodes: [])];

        Assert.IsType<KeepWaiting>(SchedulingPolicy.Decide(Job(required: ["flux"]), backends, Now, Grace));
        var failed = Assert.IsType<FailWith>(SchedulingPolicy.Decide(Job(required: ["flux"], queuedAt: Now - Grace), backends, Now, Grace));
        Assert.Equal("no_eligible_backend", failed.ErrorType);
    }

    [Fact]
    public void AnOnlineAffinityIsUsedEvenWhenBusyAndAnOfflineOneIsNot()
    {
        Assert.IsType<KeepWaiting>(SchedulingPolicy.Decide(Job(affinity: "a"), [Backend("a", assigned: 1), Backend("b")], Now, Grace));
        Assert.Equal("a", Chosen(SchedulingPolicy.Decide(Job(affinity: "a"), [Backend("a", queue: 9), Backend("b")], Now, Grace)));
        Assert.Equal("b", Chosen(SchedulingPolicy.Decide(Job(affinity: "a"), [Backend("a", online: false), Backend("b")], Now, Grace)));
    }

    [Fact]
    public void ATargetedJobRunsOnlyOnItsBackend()
    {
        Assert.IsType<KeepWaiting>(SchedulingPolicy.Decide(Job(target: "a"), [Backend("a", assigned: 1), Backend("b")], Now, Grace));
        Assert.Equal("a", Chosen(SchedulingPolicy.Decide(Job(target: "a"), [Backend("a", queue: 5), Backend("b")], Now, Grace)));
    }

    [Fact]
    public void ATargetOfflineForLongerThanTheGraceMovesTheJobToTheGroupsNextBackend()
    {
        BackendLoad[] backends = [Backend("a", online: false, lastSeen: Now - Grace), Backend("b", assigned: 1), Backend("c"), Backend("d")];

        var briefly = SchedulingPolicy.Decide(Job(target: "a", preferred: ["a", "d", "b"]), [Backend("a", online: false), .. backends[1..]], Now, Grace);
        var moved = Assert.IsType<MoveTo>(SchedulingPolicy.Decide(Job(target: "a", preferred: ["a", "d", "b"], queuedAt: Now - Grace), backends, Now, Grace));
        var removed = Assert.IsType<MoveTo>(SchedulingPolicy.Decide(Job(target: "x"), backends, Now, Grace));

        Assert.IsType<KeepWaiting>(briefly);
        Assert.Equal(("d", "backend_offline"), (moved.ToBackendId, moved.Reason));
        Assert.Equal(("c", "backend_removed"), (removed.ToBackendId, removed.Reason));
    }

    [Fact]
    public void FailoverSkipsTriedAndOfflineBackends()
    {
        BackendLoad[] backends = [Backend("a"), Backend("b", online: false), Backend("c", assigned: 1), Backend("d")];

        Assert.Equal("c", SchedulingPolicy.ChooseFailover(Job(target: "a", attempts: ["a"], preferred: ["a", "b", "c"]), backends, "a")?.Id);
        Assert.Equal("d", SchedulingPolicy.ChooseFailover(Job(attempts: ["c", "a"]), backends, "a")?.Id);
        Assert.Null(SchedulingPolicy.ChooseFailover(Job(attempts: ["c", "d"]), backends, "a"));
    }
}
