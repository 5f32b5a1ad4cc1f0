namespace DirectorsConsole.JobService.Model;

/// <summary>
/// The job engine (JobService/Engine): jobs and groups in Redis, the orchestrator-side priority queue, dispatch to
/// BackendService (<c>RunPromptCommand</c>s), render events applied exactly once, timeouts, fail-over and cancel.
/// The API and the WebSockets use only this and <see cref="IJobEventStream"/>. Every method is safe on any replica.
/// </summary>
public interface IJobEngine
{
    /// <summary>Stores the job as <c>queued</c> and queues it; returns at once (never waits for the render).</summary>
    Task<JobRecord> SubmitJobAsync(JobSubmission submission, CancellationToken cancellationToken);

    /// <summary>Stores the group (status <c>running</c>) and queues every child on its backend.</summary>
    Task<JobGroupView> SubmitGroupAsync(JobGroupSubmission submission, CancellationToken cancellationToken);

    Task<JobRecord?> GetJobAsync(string jobId, CancellationToken cancellationToken);

    /// <summary>Single jobs and group children, newest first; <paramref name="status"/> null for all.</summary>
    Task<JobPage> ListJobsAsync(string? status, int offset, int limit, CancellationToken cancellationToken);

    Task<JobGroupView?> GetGroupAsync(string groupId, CancellationToken cancellationToken);

    /// <summary>Newest first.</summary>
    Task<IReadOnlyList<JobGroupView>> ListGroupsAsync(int offset, int limit, CancellationToken cancellationToken);

    /// <summary>Cancels a job that has not ended (queue delete + targeted interrupt through BackendService); the job
    /// ends <c>cancelled</c>. Null when there is no such job; the record as it is when it had ended already.</summary>
    Task<JobRecord?> CancelJobAsync(string jobId, CancellationToken cancellationToken);

    /// <summary>Cancels every child that has not ended; the group becomes and stays <c>cancelled</c>. Null when unknown.</summary>
    Task<JobGroupCancelResult?> CancelGroupAsync(string groupId, CancellationToken cancellationToken);
}

/// <summary>The ordered, gapless event streams of groups and jobs, kept in Redis so any replica serves any watcher.</summary>
public interface IJobEventStream
{
    /// <summary>Events of the stream after <paramref name="afterSequence"/> (0 for all), in order.</summary>
    Task<IReadOnlyList<JobStreamEvent>> ReadAsync(JobStreamId stream, long afterSequence, CancellationToken cancellationToken);

    /// <summary>The sequence number of the stream's last event (0 when it has none).</summary>
    Task<long> GetLastSequenceAsync(JobStreamId stream, CancellationToken cancellationToken);

    /// <summary>Calls <paramref name="onEvent"/> for every event appended from now on, in order, without gaps (a
    /// subscriber that reconnects re-reads what it missed), and <paramref name="onPreview"/> for every preview of the
    /// stream's job (or of a child of its group) rendered from now on: a message that is not stored, has no sequence and
    /// is dropped where nobody watches; it is called with the id of the job the preview shows. Neither callback may block.
    /// Dispose to stop.</summary>
    Task<IAsyncDisposable> SubscribeAsync(
        JobStreamId stream, Func<JobStreamEvent, CancellationToken, Task> onEvent, Action<string, ReadOnlyMemory<byte>>? onPreview,
        CancellationToken cancellationToken);
}

/// <summary>Names a stream: a group's (<c>group:{id}</c>) or a single job's (<c>job:{id}</c>).</summary>
public readonly record struct JobStreamId(string Kind, string Id)
{
    public static JobStreamId Group(string groupId) => new("group", groupId);

    public static JobStreamId Job(string jobId) => new("job", jobId);

    public bool IsGroup => Kind == "group";

    public override string ToString() => $"{Kind}:{Id}";
}
