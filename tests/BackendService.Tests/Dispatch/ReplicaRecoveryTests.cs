using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>A BackendService replica that dies without releasing anything: how soon dispatch resumes. The gaps are
/// printed, not asserted.</summary>
public sealed class ReplicaRecoveryTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ARestartedReplicaTakesOverItsDeadPredecessorsLeasesWithoutWaitingForThemToExpire()
    {
        // Arrange: leases that would outlive the test, so only recognising the predecessor can explain a takeover
        var longLeases = new Dictionary<string, string?> { ["Backends:Leases:Ttl"] = "00:02:00", ["Backends:Leases:RenewalInterval"] = "00:00:01" };
        await using var rig = await DispatchRig.StartAsync(emulators: 2, replicas: 0);
        var first = rig.AddReplica("backend-service-0", longLeases);
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(0));
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(1));
        var firstLeases = first.Services.GetRequiredService<BackendLeaseManager>();
        await Eventually.ReturnsAsync(() => Task.FromResult(firstLeases.HeldBackends.Count), count => count == 2, TimeSpan.FromSeconds(20));
        var running = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 30, delayMs: 100), backendId: DispatchRig.BackendId(0));
        await rig.Events.WaitForAsync(running.PromptId, RenderEventKinds.Progress);

        // Act: the process dies mid-render; the AppHost starts it again under the same instance id
        await rig.CrashReplicaAsync(first);
        var crashedAt = DateTimeOffset.UtcNow;
        var second = rig.AddReplica("backend-service-0", longLeases);
        var next = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 2, delayMs: 10), backendId: DispatchRig.BackendId(1));
        var nextStarted = await rig.Events.WaitForAsync(next.PromptId, RenderEventKinds.Started);
        var completed = await rig.Events.WaitForAsync(running.PromptId);
        var secondLeases = second.Services.GetRequiredService<BackendLeaseManager>();
        var holders = await Task.WhenAll(Enumerable.Range(0, 2).Select(i => rig.Redis.StringGetAsync(BackendKeys.Lease(DispatchRig.BackendId(i)), Token)));
        var replicas = (await rig.Redis.ExecuteAsync(["ZRANGE", BackendKeys.Replicas, 0, -1], Token)).Items.Select(m => m.AsString()!).ToArray();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"restarted replica: next prompt started {(nextStarted.At - crashedAt).TotalSeconds:0.00} s after the crash (including the replica's own start)");

        // Assert
        Assert.Equal(RenderEventKinds.Completed, completed.Kind);
        Assert.Contains(completed.Outputs!, o => o.Kind == "images");
        Assert.All(holders, holder => Assert.Equal(secondLeases.ReplicaId, holder));
        Assert.Equal([secondLeases.ReplicaId], replicas);
    }

    [Fact]
    public async Task AStandbyReplicaTakesOverADeadPeersBackends()
    {
        // Arrange: the default lease settings, two replicas holding one backend each, a render running on each node
        var defaultLeases = new Dictionary<string, string?> { ["Backends:Leases:Ttl"] = "00:00:02", ["Backends:Leases:RenewalInterval"] = "00:00:00.5" };
        await using var rig = await DispatchRig.StartAsync(emulators: 2, replicas: 0);
        var a = rig.AddReplica("backend-service-0", defaultLeases);
        var b = rig.AddReplica("backend-service-1", defaultLeases);
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(0));
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(1));
        var leases = new[] { a, b }.Select(r => r.Services.GetRequiredService<BackendLeaseManager>()).ToArray();
        await Eventually.ReturnsAsync(
            () => Task.FromResult(leases.Select(l => l.HeldBackends.Count).ToArray()), counts => counts is [1, 1], TimeSpan.FromSeconds(20));
        var victim = leases[0].Holds(DispatchRig.BackendId(0)) ? a : b;
        var standby = victim == a ? leases[1] : leases[0];
        var running = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 30, delayMs: 100), backendId: DispatchRig.BackendId(0));
        await rig.Events.WaitForAsync(running.PromptId, RenderEventKinds.Progress);

        // Act
        await rig.CrashReplicaAsync(victim);
        var crashedAt = DateTimeOffset.UtcNow;
        var next = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 2, delayMs: 10), backendId: DispatchRig.BackendId(0));
        var tookOver = await Eventually.ReturnsAsync(() => Task.FromResult(standby.Holds(DispatchRig.BackendId(0))), held => held, TimeSpan.FromSeconds(20));
        var tookOverAfter = DateTimeOffset.UtcNow - crashedAt;
        var completed = await rig.Events.WaitForAsync(running.PromptId);
        var nextCompleted = await rig.Events.WaitForAsync(next.PromptId);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"standby replica: held the dead peer's backend {tookOverAfter.TotalSeconds:0.0} s after the crash (polled every 0.1 s); " +
            $"the render running there was reported complete {(completed.At - crashedAt).TotalSeconds:0.00} s after the crash");

        // Assert
        Assert.True(tookOver);
        Assert.Equal(RenderEventKinds.Completed, completed.Kind);
        Assert.Equal(RenderEventKinds.Completed, nextCompleted.Kind);
        Assert.True(standby.Holds(DispatchRig.BackendId(1)));
    }
}
