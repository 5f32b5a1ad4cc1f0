using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Backends;

namespace DirectorsConsole.JobService.Engine;

/// <summary>A backend as the scheduler sees it: its registry entry and the slots this suite's jobs hold on it
/// (<see cref="JobKeys.Assigned"/>: the one count of what a backend holds, running or waiting in the node's queue).
/// <paramref name="DefaultPrefetch"/> applies when the definition sets no prefetch of its own, and
/// <paramref name="PinnedPrefetch"/>, when larger, to the jobs pinned to the backend.</summary>
public sealed record BackendLoad(BackendEntry Entry, long Assigned, int DefaultPrefetch = 0, int PinnedPrefetch = 0)
{
    public string Id => Entry.Definition.Id;

    /// <summary>Prompts posted ahead of the running ones, waiting in the node's own queue.</summary>
    public int Prefetch => PrefetchFor(pinned: false);

    /// <summary>How many of this suite's prompts the backend may hold at once: <c>max_concurrent_jobs</c> running and
    /// <see cref="Prefetch"/> more waiting in its queue. The one place that decides it: BackendService posts whatever
    /// the scheduler sends.</summary>
    public int Limit => LimitFor(pinned: false);

    public bool HasFreeSlot => Assigned < Limit;

    /// <summary>The prefetch for a job that can run only on this backend now (<paramref name="pinned"/>) or for any
    /// job: the definition's own, else the larger default for a pinned job.</summary>
    public int PrefetchFor(bool pinned) => Math.Clamp(
        Entry.Definition.Prefetch ?? (pinned ? Math.Max(DefaultPrefetch, PinnedPrefetch) : DefaultPrefetch), 0, BackendDefinition.PrefetchLimit);

    /// <summary><see cref="Limit"/> for a pinned job or any job.</summary>
    public int LimitFor(bool pinned) => Math.Max(1, Entry.Definition.MaxConcurrentJobs) + PrefetchFor(pinned);

    public bool HasFreeSlotFor(bool pinned) => Assigned < LimitFor(pinned);

    /// <summary>Slots used over running slots: above 1 while prompts wait in the node's queue.</summary>
    public double Load => (double)Assigned / Math.Max(1, Entry.Definition.MaxConcurrentJobs);

    public int QueueDepth => (Entry.State?.QueueRunning ?? 0) + (Entry.State?.QueuePending ?? 0);

    public long FreeVram => Entry.State?.GpuMemoryFree ?? 0;
}

public abstract record SchedulingDecision;

/// <summary>Dispatch now to a backend with a free slot; <paramref name="Pinned"/>: the job can run only there now, so the
/// backend's pinned limit applies (<see cref="BackendLoad.LimitFor"/>).</summary>
public sealed record DispatchTo(BackendLoad Backend, bool Pinned = false) : SchedulingDecision
{
    /// <summary>The slot count the claim is checked against.</summary>
    public int Limit => Backend.LimitFor(Pinned);
}

/// <summary>Leave it in the queue (its backend is busy or briefly offline).</summary>
public sealed record KeepWaiting : SchedulingDecision
{
    public static readonly KeepWaiting Instance = new();
}

/// <summary>Its backend cannot run it: move it (<paramref name="ToBackendId"/> null: nowhere to go).</summary>
public sealed record MoveTo(string? ToBackendId, string Reason) : SchedulingDecision;

public sealed record FailWith(string ErrorType, string Message) : SchedulingDecision;

/// <summary>
/// Where a queued job runs. Eligible backends are enabled, online and have the required capabilities (declared, or
/// discovered node classes and models). A job with a target (a group child's backend, or where a lost job was moved)
/// runs only there; an online <c>backend_affinity</c> is used (the job waits for it when busy); otherwise the least
/// loaded eligible backend with a free slot wins: slots used / max_concurrent_jobs, then ComfyUI's queue depth, then
/// free VRAM. A backend offline for longer than the grace makes a targeted job move, and a job nothing can run fails.
/// </summary>
public static class SchedulingPolicy
{
    public static SchedulingDecision Decide(StoredJob job, IReadOnlyList<BackendLoad> backends, DateTimeOffset now, TimeSpan offlineGrace)
    {
        var record = job.Record;
        bool Capable(BackendLoad b) => b.Entry.Definition.Enabled && BackendEligibility.HasCapabilities(b.Entry.Definition, b.Entry.State, record.RequiredCapabilities);
        bool Usable(BackendLoad b) => Capable(b) && b.Entry.Online;
        bool OfflineTooLong(BackendLoad b) => !b.Entry.Online && now - Max(b.Entry.State?.LastSeen, record.QueuedAt) >= offlineGrace;

        if (job.State.Target is { } target)
        {
            var backend = backends.FirstOrDefault(b => b.Id == target);
            if (backend is not null && Usable(backend))
            {
                return backend.HasFreeSlotFor(pinned: true) ? new DispatchTo(backend, Pinned: true) : KeepWaiting.Instance;
            }

            if (backend is not null && Capable(backend) && !OfflineTooLong(backend))
            {
                return KeepWaiting.Instance;
            }

            var reason = backend is null ? "backend_removed"
                : !backend.Entry.Definition.Enabled ? "backend_disabled"
                : !Capable(backend) ? "backend_not_capable"
                : "backend_offline";
            return new MoveTo(ChooseFailover(job, backends, target)?.Id, reason);
        }

        if (record.BackendAffinity is { } affinity && backends.FirstOrDefault(b => b.Id == affinity) is { } preferred && Usable(preferred))
        {
            return preferred.HasFreeSlotFor(pinned: true) ? new DispatchTo(preferred, Pinned: true) : KeepWaiting.Instance;
        }

        var usable = backends.Where(Usable).ToList();
        if (usable.Count == 0)
        {
            var capable = backends.Where(Capable).ToList();
            if (capable.Count == 0 && now - record.QueuedAt >= offlineGrace)
            {
                var required = record.RequiredCapabilities.Count == 0 ? "none" : string.Join(", ", record.RequiredCapabilities);
                return new FailWith(Contracts.RenderErrorTypes.NoEligibleBackend,
                    $"No enabled backend has the required capabilities ({required}).");
            }

            if (capable.Count > 0 && capable.All(OfflineTooLong))
            {
                return new FailWith(JobErrorTypes.NoBackendLeft,
                    $"No backend able to run it was online for {offlineGrace.TotalSeconds:0} s ({string.Join(", ", capable.Select(b => b.Id))}).");
            }

            return KeepWaiting.Instance;
        }

        var best = LeastLoaded(usable.Where(b => b.HasFreeSlot)).FirstOrDefault();
        return best is null ? KeepWaiting.Instance : new DispatchTo(best);
    }

    /// <summary>Where a job goes when <paramref name="lostBackendId"/> cannot run it: an eligible online backend it has
    /// not tried, a group child's group backends first (in their order), then the least loaded. Null: none is left.</summary>
    public static BackendLoad? ChooseFailover(StoredJob job, IReadOnlyList<BackendLoad> backends, string? lostBackendId)
    {
        var record = job.Record;
        var tried = new HashSet<string>(record.Attempts, StringComparer.Ordinal);
        if (lostBackendId is not null)
        {
            tried.Add(lostBackendId);
        }

        if (job.State.Target is { } target)
        {
            tried.Add(target);
        }

        var candidates = backends
            .Where(b => !tried.Contains(b.Id) && b.Entry.Online
                && BackendEligibility.HasCapabilities(b.Entry.Definition, b.Entry.State, record.RequiredCapabilities))
            .ToList();
        return record.PreferredBackendIds.Select(id => candidates.FirstOrDefault(c => c.Id == id)).FirstOrDefault(c => c is not null)
            ?? LeastLoaded(candidates).FirstOrDefault();
    }

    private static IEnumerable<BackendLoad> LeastLoaded(IEnumerable<BackendLoad> backends) =>
        backends.OrderBy(b => b.Load).ThenBy(b => b.QueueDepth).ThenByDescending(b => b.FreeVram).ThenBy(b => b.Id, StringComparer.Ordinal);

    private static DateTimeOffset Max(DateTimeOffset? a, DateTimeOffset b) => a is { } value && value > b ? value : b;
}
