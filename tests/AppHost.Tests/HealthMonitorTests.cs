using DirectorsConsole.AppHost.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.AppHost.Tests;

public sealed class HealthMonitorTests
{
    private static readonly Uri Endpoint = new("http://127.0.0.1:1/");

    [Fact]
    public async Task CancellingDuringAProbeEndsTheMonitorNormally()
    {
        // Arrange: a probe that never answers, like one sent to a frozen process that is then killed
        var probe = new HangingProbe();
        var status = new ReplicaStatus(new ExternalResource("frozen", [Endpoint]), 0, 1, _ => { }, TimeProvider.System);
        using var cancellation = new CancellationTokenSource();
        var monitor = HealthMonitor.RunAsync(status, probe, Endpoint, 42, ResourceState.Starting, NullLogger.Instance, TimeProvider.System, cancellation.Token);
        await probe.Started.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        // Act
        await cancellation.CancelAsync();
        await monitor.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        // Assert: completed, not cancelled, so the supervisor awaiting it goes on to restart the process
        Assert.Equal(TaskStatus.RanToCompletion, monitor.Status);
    }

    [Fact]
    public async Task AProbeThatTimesOutIsReportedAsNoAnswer()
    {
        var problem = await HealthMonitor.CheckAsync(new HangingProbe(), Endpoint, TestContext.Current.CancellationToken);

        Assert.Equal($"no health answer from {Endpoint} within 2 s", problem);
    }

    private sealed class HangingProbe : IHealthProbe
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<bool> CheckAsync(Uri endpoint, CancellationToken cancellationToken)
        {
            Started.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return true;
        }
    }
}
