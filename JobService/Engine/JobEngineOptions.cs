using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Backends;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

/// <summary>Settings of the job engine (section <c>Jobs</c>), validated at start.</summary>
public sealed class JobEngineOptions
{
    public const string SectionName = "Jobs";

    /// <summary>How often the scheduler looks at its queue when nothing wakes it (a submit, a job ending or a
    /// reassignment on any replica wakes it at once).</summary>
    public TimeSpan SchedulerInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often every job that has not ended is checked against its prompt's state in Redis, repairing
    /// render events that pub/sub lost.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often running jobs are checked against their <c>timeout_seconds</c>.</summary>
    public TimeSpan TimeoutCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long finished jobs and groups are kept before the cleanup removes them.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    public TimeSpan CleanupInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How many times a job moves to another backend after its backend was lost (three backends in all by default).</summary>
    public int MaxReassignments { get; set; } = 2;

    /// <summary>How long a job waits for a backend that is offline (or for any capable backend to come online)
    /// before it moves elsewhere or fails with <c>no_backend_left</c>.</summary>
    public TimeSpan OfflineBackendGrace { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>A dispatch recorded but not confirmed for this long (the replica died between recording and
    /// enqueueing) is enqueued again with the same prompt id; BackendService drops the duplicate if there is one.</summary>
    public TimeSpan DispatchRecoveryAfter { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Only the replica holding this lease runs the scheduler, timeouts, reconcile and cleanup. A holder that
    /// dies is replaced about one TTL (plus one <see cref="LeaderRenewalInterval"/>) later, so the TTL is what new jobs
    /// wait at worst when the scheduling replica dies; a holder that cannot renew stops acting as the scheduler before
    /// its lease can have run out in Redis.</summary>
    public TimeSpan LeaderLeaseTtl { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>How often the holder renews the lease and every standby tries to take it, apart from the scheduler's
    /// rounds (a long round never lets the lease lapse).</summary>
    public TimeSpan LeaderRenewalInterval { get; set; } = TimeSpan.FromSeconds(0.5);

    /// <summary>Prompts a backend may hold beyond its <c>max_concurrent_jobs</c> running ones, waiting in the node's own
    /// queue so that it starts the next prompt without a round trip through the suite, for a backend whose definition
    /// sets no <c>prefetch</c> of its own (0–16; see docs/render-path.md for how it was chosen).</summary>
    public int DefaultPrefetch { get; set; } = 1;

    /// <summary>The same for jobs pinned to the backend (a job group's children, a job moved there, a job whose
    /// <c>backend_affinity</c> names it while it is online), when it is larger than <see cref="DefaultPrefetch"/>. Such a
    /// job would wait for this backend anyway, so posting it ahead keeps no other backend from taking it, and it still
    /// leaves the node's queue for a job of higher priority (ComfyUI runs the lowest <c>number</c> first); it lets a node
    /// run a burst of short prompts back to back instead of one per round trip through the suite (0–16; see
    /// docs/render-path.md for how it was chosen).</summary>
    public int PinnedPrefetch { get; set; } = 8;

    /// <summary>Queued jobs the scheduler considers per queue and pass, in priority order: each backend's own queue
    /// (group children and jobs with a <c>backend_affinity</c>) and the queue of jobs any backend may run.</summary>
    public int SchedulerScanLimit { get; set; } = 500;

    /// <summary>The most children one job group may have (entries of <c>backend_ids</c>, repeats included). One request
    /// then cannot queue more work than a few rounds of a large farm, and every step that reads a whole group (its
    /// status, cancel, <c>group_complete</c>) stays a bounded, pipelined batch.</summary>
    public int MaxGroupChildren { get; set; } = 256;

    /// <summary>A stream subscriber re-reads its stream this often even without a notification, so a lost
    /// notification delays an event by at most this much.</summary>
    public TimeSpan StreamPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a job's or group's history is kept after its last entry.</summary>
    public TimeSpan HistoryRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>The most history entries kept per job or group; the oldest go first. A job has a handful of entries
    /// (progress is not recorded), so only a job moved or retried many times reaches it.</summary>
    public int HistoryMaxEntries { get; set; } = 500;

    /// <summary>The span the dashboard's jobs per minute and render time percentiles are computed over.</summary>
    public TimeSpan DashboardWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often the job counts behind the metrics' gauges are read from Redis.</summary>
    public TimeSpan MetricsSampleInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Attempts of one state change when other replicas change the same job or group concurrently.</summary>
    public int CommitAttempts { get; set; } = 20;
}

public sealed class JobEngineOptionsValidator : IValidateOptions<JobEngineOptions>
{
    public ValidateOptionsResult Validate(string? name, JobEngineOptions options)
    {
        var failures = new OptionsFailures(JobEngineOptions.SectionName);
        failures.RequirePositive(options.SchedulerInterval, nameof(options.SchedulerInterval));
        failures.RequirePositive(options.ReconcileInterval, nameof(options.ReconcileInterval));
        failures.RequirePositive(options.TimeoutCheckInterval, nameof(options.TimeoutCheckInterval));
        failures.RequirePositive(options.Retention, nameof(options.Retention));
        failures.RequirePositive(options.CleanupInterval, nameof(options.CleanupInterval));
        failures.RequirePositive(options.OfflineBackendGrace, nameof(options.OfflineBackendGrace));
        failures.RequirePositive(options.DispatchRecoveryAfter, nameof(options.DispatchRecoveryAfter));
        failures.RequirePositive(options.LeaderLeaseTtl, nameof(options.LeaderLeaseTtl));
        failures.RequirePositive(options.LeaderRenewalInterval, nameof(options.LeaderRenewalInterval));
        failures.RequirePositive(options.StreamPollInterval, nameof(options.StreamPollInterval));
        failures.RequirePositive(options.HistoryRetention, nameof(options.HistoryRetention));
        failures.RequirePositive(options.DashboardWindow, nameof(options.DashboardWindow));
        failures.RequirePositive(options.MetricsSampleInterval, nameof(options.MetricsSampleInterval));
        failures.RequireBetween(options.HistoryMaxEntries, 10, 100_000, nameof(options.HistoryMaxEntries));

        if (options.LeaderRenewalInterval * 2 > options.LeaderLeaseTtl)
        {
            failures.Add($"{JobEngineOptions.SectionName}:LeaderRenewalInterval must be at most half of LeaderLeaseTtl, so that the lease survives one late renewal.");
        }

        failures.RequireBetween(options.MaxReassignments, 0, 100, nameof(options.MaxReassignments));
        failures.RequireBetween(options.DefaultPrefetch, 0, BackendDefinition.PrefetchLimit, nameof(options.DefaultPrefetch));
        failures.RequireBetween(options.PinnedPrefetch, 0, BackendDefinition.PrefetchLimit, nameof(options.PinnedPrefetch));

        if (options.SchedulerScanLimit < 1)
        {
            failures.Add($"{JobEngineOptions.SectionName}:SchedulerScanLimit must be at least 1.");
        }

        failures.RequireBetween(options.MaxGroupChildren, 1, Seeds.SeedStrategies.MaxCount, nameof(options.MaxGroupChildren));

        if (options.CommitAttempts < 1)
        {
            failures.Add($"{JobEngineOptions.SectionName}:CommitAttempts must be at least 1.");
        }

        return failures.ToResult();
    }
}
