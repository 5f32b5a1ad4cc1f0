using DirectorsConsole.JobService.Model;

namespace DirectorsConsole.JobService.Engine;

/// <summary>One of the orchestrator's queues: the queue of jobs any backend may run (<see cref="BackendId"/> null), or
/// the queue of jobs waiting for one backend. Where each is kept is <see cref="JobStore"/>'s business.</summary>
public sealed record JobQueue(string? BackendId)
{
    public static JobQueue AnyBackend { get; } = new((string?)null);

    public static JobQueue ForBackend(string backendId) => new(backendId);

    /// <summary>The queue a waiting job belongs to: its target's, else its <c>backend_affinity</c>'s, else any backend's.</summary>
    public static JobQueue Of(JobRecord record, JobEngineState state) => new(state.Target ?? record.BackendAffinity);
}
