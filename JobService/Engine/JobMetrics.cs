using System.Diagnostics;
using System.Diagnostics.Metrics;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

/// <summary>What the job engine looked like at the last sample: jobs per status, waiting jobs, backends online.</summary>
public sealed record JobCountsSample(IReadOnlyDictionary<string, long> JobsByStatus, long QueueDepth, int BackendsOnline, int BackendsTotal);

/// <summary>
/// The job engine's instruments (meter <see cref="MeterName"/>, exported with the rest of the service's metrics):
/// jobs by status, queue depth and backends online as gauges of the last <see cref="JobMetricsSampler"/> sample, and
/// the render and queue-wait durations as histograms recorded by <see cref="JobStateMachine"/> on the replica that
/// made the change, so each start and each completion is counted once in the suite.
/// </summary>
public sealed class JobMetrics
{
    public const string MeterName = "DirectorsConsole.JobService";

    private readonly Histogram<double> _renderDuration;
    private readonly Histogram<double> _queueWait;
    private readonly Counter<long> _webhookDeliveries;
    private volatile JobCountsSample? _sample;

    public JobMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _renderDuration = meter.CreateHistogram<double>("dc.job.render.duration", "s", "Time from a job's start on a backend to its completion");
        _queueWait = meter.CreateHistogram<double>("dc.job.queue_wait.duration", "s", "Time a job waited in the queue before it started");
        _webhookDeliveries = meter.CreateCounter<long>("dc.webhook.deliveries", "{delivery}", "Webhook delivery attempts by outcome (delivered, failed, refused, given_up)");
        meter.CreateObservableGauge("dc.jobs", ObserveJobs, "{job}", "Jobs (single and group children) by status, as last sampled");
        meter.CreateObservableGauge("dc.jobs.queue_depth", () => _sample is { } s ? [new Measurement<long>(s.QueueDepth)] : Array.Empty<Measurement<long>>(),
            "{job}", "Jobs waiting for a backend, as last sampled");
        meter.CreateObservableGauge("dc.backends.online", () => _sample is { } s ? [new Measurement<int>(s.BackendsOnline)] : Array.Empty<Measurement<int>>(),
            "{backend}", "Render nodes that are enabled and answered their last probe, as last sampled");
    }

    public JobCountsSample? LastSample => _sample;

    public void Update(JobCountsSample sample) => _sample = sample;

    /// <summary>Records what a committed change of one job means for the histograms.</summary>
    public void RecordChange(JobRecord before, JobRecord after)
    {
        if (before.Status != JobStatuses.Running && after.Status == JobStatuses.Running && after.StartedAt is { } started)
        {
            _queueWait.Record(Math.Max(0, (started - after.QueuedAt).TotalSeconds));
        }

        if (before.Status != JobStatuses.Completed && after.Status == JobStatuses.Completed && after is { StartedAt: { } from, CompletedAt: { } to })
        {
            _renderDuration.Record(Math.Max(0, (to - from).TotalSeconds), new KeyValuePair<string, object?>("backend_id", after.BackendId));
        }
    }

    /// <summary>Counts one webhook delivery attempt on the replica that made it.</summary>
    public void RecordWebhookDelivery(string outcome) => _webhookDeliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    private IEnumerable<Measurement<long>> ObserveJobs() =>
        _sample is { } sample
            ? JobStatuses.All.Select(status => new Measurement<long>(sample.JobsByStatus.GetValueOrDefault(status), new KeyValuePair<string, object?>("status", status)))
            : [];

    /// <summary>Reads the counts the gauges show.</summary>
    public static async Task<JobCountsSample> SampleAsync(JobStore store, BackendDirectory backends, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var status in JobStatuses.All)
        {
            counts[status] = await store.CountJobsAsync(status, cancellationToken);
        }

        var registry = await backends.ListAsync(cancellationToken);
        return new JobCountsSample(counts, counts[JobStatuses.Queued], registry.Count(b => b.Online), registry.Count);
    }
}

/// <summary>Samples the counts behind <see cref="JobMetrics"/>' gauges every <see cref="JobEngineOptions.MetricsSampleInterval"/>
/// (a scrape never waits on Redis); a failed sample is logged and the gauges keep the last one.</summary>
public sealed class JobMetricsSampler(
    JobMetrics metrics, JobStore store, BackendDirectory backends, IOptions<JobEngineOptions> options, TimeProvider timeProvider,
    ILogger<JobMetricsSampler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.MetricsSampleInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(interval);
                metrics.Update(await JobMetrics.SampleAsync(store, backends, timeout.Token));
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Could not sample job counts for the metrics after {Elapsed}; the gauges show the previous sample",
                    Stopwatch.GetElapsedTime(started));
            }

            try
            {
                await Task.Delay(interval, timeProvider, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
