using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>A registered backend as the router sees it: its definition, its last known state and the prompts
/// already given to it (in flight on the node plus waiting in its backend queue).</summary>
public sealed record BackendCandidate(BackendDefinition Backend, BackendRuntimeState? State, long Assigned)
{
    public bool Online => Backend.Enabled && State?.Online == true;

    public bool HasFreeSlot => Assigned < Math.Max(1, Backend.MaxConcurrentJobs);

    public double Load => (double)Assigned / Math.Max(1, Backend.MaxConcurrentJobs);
}

/// <summary>What the router decided for one command without a named backend.</summary>
public enum RoutingVerdict
{
    /// <summary>Send it to <see cref="RoutingDecision.Backend"/>.</summary>
    Route,

    /// <summary>Eligible backends exist but none is online with a free slot: the command waits.</summary>
    Wait,

    /// <summary>No enabled backend has the required capabilities.</summary>
    NoEligibleBackend,
}

public sealed record RoutingDecision(RoutingVerdict Verdict, BackendCandidate? Backend);

/// <summary>Chooses a backend for a command: enabled and with the capabilities; among those online with a free
/// slot, the preferred ones in the caller's order first, then the least loaded (assigned / max_concurrent_jobs),
/// then the shortest ComfyUI queue, then the most free VRAM. A backend whose state is unknown counts as offline.</summary>
public static class BackendRanking
{
    public static RoutingDecision Choose(IReadOnlyList<BackendCandidate> candidates, IReadOnlyList<string> required, IReadOnlyList<string> preferred)
    {
        var eligible = candidates
            .Where(c => c.Backend.Enabled && BackendEligibility.HasCapabilities(c.Backend, c.State, required))
            .ToList();
        if (eligible.Count == 0)
        {
            return new RoutingDecision(RoutingVerdict.NoEligibleBackend, null);
        }

        var best = Rank(eligible.Where(c => c.Online && c.HasFreeSlot), preferred).FirstOrDefault();
        return best is null ? new RoutingDecision(RoutingVerdict.Wait, null) : new RoutingDecision(RoutingVerdict.Route, best);
    }

    public static IEnumerable<BackendCandidate> Rank(IEnumerable<BackendCandidate> candidates, IReadOnlyList<string> preferred) =>
        candidates
            .OrderBy(c => PreferenceRank(c.Backend.Id, preferred))
            .ThenBy(c => c.Load)
            .ThenBy(c => (c.State?.QueueRunning ?? 0) + (c.State?.QueuePending ?? 0))
            .ThenByDescending(c => c.State?.GpuMemoryFree ?? 0)
            .ThenBy(c => c.Backend.Id, StringComparer.Ordinal);

    private static int PreferenceRank(string backendId, IReadOnlyList<string> preferred)
    {
        for (var i = 0; i < preferred.Count; i++)
        {
            if (string.Equals(preferred[i], backendId, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return int.MaxValue;
    }
}
