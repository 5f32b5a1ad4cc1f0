using DirectorsConsole.JobService.Model;

namespace DirectorsConsole.JobService.Engine;

/// <summary>Every Redis key and channel of the job engine.</summary>
public static class JobKeys
{
    /// <summary>Hash of one job: <c>record</c> (<see cref="JobRecord"/> JSON), <c>engine</c> (<see cref="JobEngineState"/>
    /// JSON), <c>status</c>, <c>progress</c>, <c>prompt_id</c> and <c>version</c> (bumped by every change; the
    /// change scripts compare it, so a change decided on an old version is refused and decided again); for a single
    /// job also <c>prompt</c> (<see cref="JobPrompt"/> JSON, written once).</summary>
    public static string Job(string jobId) => $"dc:job:{jobId}";

    /// <summary>Hash of one group: <c>record</c> (<see cref="JobGroupRecord"/> JSON), <c>status</c>, <c>version</c>
    /// and <c>completed</c> (1 once <c>group_complete</c> was appended), and <c>prompt</c> (<see cref="JobPrompt"/> JSON,
    /// written once), which every child sends.</summary>
    public static string Group(string groupId) => $"dc:jobgroup:{groupId}";

    /// <summary>The hash whose <c>prompt</c> field holds what <paramref name="record"/> sends: its group's for a child,
    /// its own for a single job.</summary>
    public static string PromptHolder(JobRecord record) => record.GroupId is { } groupId ? Group(groupId) : Job(record.JobId);

    /// <summary>Sorted set of every job (single and child) scored by its submit time (Unix ms).</summary>
    public const string JobIndex = "dc:jobs:index";

    /// <summary>Sorted set of the jobs in one status, scored by submit time.</summary>
    public static string JobStatusIndex(string status) => $"dc:jobs:index:{status}";

    /// <summary>Sorted set of every group scored by its creation time (Unix ms).</summary>
    public const string GroupIndex = "dc:jobs:groups";

    /// <summary>The orchestrator's queue of jobs any backend may run (no target, no <c>backend_affinity</c>), scored
    /// <c>priority * 2^40 + sequence</c> (lower first, then first-in first-out) like every queue below.</summary>
    public const string AnyBackendQueue = "dc:jobs:queue:any";

    /// <summary>The queue of jobs waiting for one backend: its group children, jobs moved to it, and jobs with it as
    /// their <c>backend_affinity</c>. The scheduler looks at the head of each backend's queue that has a free slot, so a
    /// long queue for one node never hides the work of another.</summary>
    public static string BackendQueue(string backendId) => $"dc:jobs:queue:backend:{backendId}";

    /// <summary>Set of the backend ids that have had a <see cref="BackendQueue"/>, so the scheduler also finds the
    /// queues of backends that were removed from the registry.</summary>
    public const string QueuedBackends = "dc:jobs:queue:backends";

    /// <summary>The sorted set of <paramref name="queue"/>.</summary>
    public static string Queue(JobQueue queue) => queue.BackendId is { } backendId ? BackendQueue(backendId) : AnyBackendQueue;

    /// <summary>The queue a waiting job belongs to.</summary>
    public static string QueueOf(JobRecord record, JobEngineState state) => Queue(JobQueue.Of(record, state));

    /// <summary>Set of the groups being cancelled whose <c>group_complete</c> is not appended yet; the scheduler's
    /// replica finishes the cancel of any that a replica left half-done.</summary>
    public const string CancellingGroups = "dc:jobs:groups:cancelling";

    /// <summary>The counter behind the queue's sequence numbers.</summary>
    public const string QueueSequence = "dc:jobs:queue:seq";

    /// <summary>Set of the jobs this suite has dispatched to a backend and not seen end: its size is the
    /// backend's used slots, compared with <c>max_concurrent_jobs</c>.</summary>
    public static string Assigned(string backendId) => $"dc:jobs:assigned:{backendId}";

    /// <summary>Sorted set of jobs whose dispatch is recorded but not confirmed as enqueued, scored by when (Unix ms).</summary>
    public const string Dispatching = "dc:jobs:dispatching";

    /// <summary>Sorted set of ended single jobs scored by their end time (Unix ms), for the retention cleanup.</summary>
    public const string FinishedJobs = "dc:jobs:finished";

    /// <summary>Sorted set of ended groups scored by their end time (Unix ms); children go with their group.</summary>
    public const string FinishedGroups = "dc:jobs:groups:finished";

    /// <summary>List of the events of one stream, oldest first; an event's sequence number is its index + 1.</summary>
    public static string Stream(JobStreamId stream) => $"dc:jobs:stream:{stream.Kind}:{stream.Id}";

    /// <summary>List of one job's or group's history entries (<see cref="JobHistory"/>), newest first, trimmed to
    /// <see cref="JobEngineOptions.HistoryMaxEntries"/> and expiring <see cref="JobEngineOptions.HistoryRetention"/>
    /// after its last entry. It outlives the job's own keys, so a job removed by the cleanup still has its history.</summary>
    public static string History(string jobOrGroupId) => $"dc:jobs:history:{jobOrGroupId}";

    /// <summary>Sorted set of every job (single or child) that ended, scored by its end time (Unix ms), trimmed to
    /// <see cref="JobEngineOptions.DashboardWindow"/> at each end: the dashboard's throughput and render times.</summary>
    public const string RecentlyEnded = "dc:jobs:ended";

    /// <summary>Every key above matches one of these (and no key of another service does): what a flush of the job
    /// engine's state removes.</summary>
    public static IReadOnlyList<string> AllKeyPatterns { get; } = ["dc:job:*", "dc:jobgroup:*", "dc:jobs:*"];

    /// <summary>Pub/sub channel: the id of a stream (<c>group:jg_…</c>, <c>job:…</c>) each time events are appended to it.</summary>
    public const string StreamNotifications = "dc:events:job-streams";

    /// <summary>Pub/sub channel that wakes the scheduler (a job was queued or a slot freed).</summary>
    public const string SchedulerWake = "dc:events:job-scheduler";

    /// <summary>String holding the instance id of the replica running the scheduler; expires unless renewed.</summary>
    public const string SchedulerLease = "dc:jobs:scheduler:leader";
}
