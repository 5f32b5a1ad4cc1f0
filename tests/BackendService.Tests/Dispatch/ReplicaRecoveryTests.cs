using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>A BackendService replica that dies without releasing anything: how soon dispatch resumes. The gaps are
/// printed; what is asserted is only that nothing waited for a timeout the fix removed.</summary>
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
    public Task AStandbyReplicaTakesOverADeadPeersBackends() =>
        // The default lease settings
        StandbyTakesOverAsync(new Dictionary<string, string?> { ["Backends:Leases:Ttl"] = "00:00:02", ["Backends:Leases:RenewalInterval"] = "00:00:00.5" }, "default leases");

    [Fact]
    public Task AStandbyReplicaTakesOverADeadPeersBackendsWhenItsConnectionClosesWithoutWaitingForItsLeasesToExpire() =>
        // Leases that would outlive the test: only seeing the peer's Redis connection close can explain a takeover
        StandbyTakesOverAsync(new Dictionary<string, string?> { ["Backends:Leases:Ttl"] = "00:02:00", ["Backends:Leases:RenewalInterval"] = "00:00:00.5" }, "2-minute leases");

    private static async Task StandbyTakesOverAsync(Dictionary<string, string?> leaseSettings, string what)
    {
        // Arrange: two replicas holding one backend each, a render running on each node
        await using var rig = await DispatchRig.StartAsync(emulators: 2, replicas: 0);
        var a = rig.AddReplica("backend-service-0", leaseSettings);
        var b = rig.AddReplica("backend-service-1", leaseSettings);
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(0));
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(1));
        var leases = new[] { a, b }.Select(r => r.Services.GetRequiredService<BackendLeaseManager>()).ToArray();
        await Eventually.ReturnsAsync(
            () => Task.FromResult(leases.Select(l => l.HeldBackends.Count).ToArray()), counts => counts is [1, 1], TimeSpan.FromSeconds(20));
        var victim = leases[0].Holds(DispatchRig.BackendId(0)) ? a : b;
        var standby = victim == a ? leases[1] : leases[0];
        var running = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 30, delayMs: 100), backendId: DispatchRig.BackendId(0));
        await rig.Events.WaitForAsync(running.PromptId, RenderEventKinds.Progress);

        // Act: the crash closes the victim's Redis connections first, as a killed process's are closed
        var crashedAt = DateTimeOffset.UtcNow;
        await rig.CrashReplicaAsync(victim);
        var next = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 2, delayMs: 10), backendId: DispatchRig.BackendId(0));
        var tookOver = await Eventually.ReturnsAsync(() => Task.FromResult(standby.Holds(DispatchRig.BackendId(0))), held => held, TimeSpan.FromSeconds(20));
        var tookOverAfter = DateTimeOffset.UtcNow - crashedAt;
        var nextStarted = await rig.Events.WaitForAsync(next.PromptId, RenderEventKinds.Started);
        var completed = await rig.Events.WaitForAsync(running.PromptId);
        var nextCompleted = await rig.Events.WaitForAsync(next.PromptId);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"standby replica ({what}): held the dead peer's backend {tookOverAfter.TotalSeconds:0.00} s after the crash (polled every 0.1 s), " +
            $"started the next prompt there {(nextStarted.At - crashedAt).TotalSeconds:0.00} s after it; " +
            $"the render running there was reported complete {(completed.At - crashedAt).TotalSeconds:0.00} s after the crash");

        // Assert
        Assert.True(tookOver);
        Assert.Equal(RenderEventKinds.Completed, completed.Kind);
        Assert.Equal(RenderEventKinds.Completed, nextCompleted.Kind);
        Assert.True(standby.Holds(DispatchRig.BackendId(1)));
    }

    [Fact]
    public async Task ARestartedReplicaHandlesTheCommandsItsPredecessorHeldAtOnceAndPostsNoneTwice()
    {
        // Arrange: the default visibility timeout (60 s), and a replica that dies holding two commands of emu-0's queue,
        // one it had already posted to the node and one it had not, as a SIGKILL in the middle of posting leaves them
        var settings = new Dictionary<string, string?> { ["Backends:Dispatch:BackendVisibilityTimeout"] = "00:01:00" };
        await using var rig = await DispatchRig.StartAsync(emulators: 1, replicas: 0);
        var first = rig.AddReplica("backend-service-0", settings);
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(0));
        var firstLeases = first.Services.GetRequiredService<BackendLeaseManager>();
        await Eventually.ReturnsAsync(() => Task.FromResult(firstLeases.Holds(DispatchRig.BackendId(0))), held => held, TimeSpan.FromSeconds(20));
        var clientId = await rig.Redis.StringGetAsync(DispatchKeys.ClientId(DispatchRig.BackendId(0)), Token);
        await rig.CrashReplicaAsync(first);

        var backendQueue = RenderChannels.BackendQueue(DispatchRig.BackendId(0));
        var posted = NewCommand(seed: 1);
        var notPosted = NewCommand(seed: 2);
        await rig.Queue.EnqueueAsync(backendQueue, posted, Token);
        await rig.Queue.EnqueueAsync(backendQueue, notPosted, Token);
        var heldPosted = await rig.Queue.TryReceiveAsync<RunPromptCommand>(backendQueue, TimeSpan.FromMinutes(1), "the-dead-session", Token);
        var heldNotPosted = await rig.Queue.TryReceiveAsync<RunPromptCommand>(backendQueue, TimeSpan.FromMinutes(1), "the-dead-session", Token);
        Assert.Equal(posted.PromptId, heldPosted?.Message.PromptId);
        Assert.Equal(notPosted.PromptId, heldNotPosted?.Message.PromptId);
        // The dead session had claimed the posted one (a post always follows its claim), then posted it.
        var deadStore = new DispatchStore(rig.Redis, Microsoft.Extensions.Options.Options.Create(new DispatchOptions()));
        Assert.True((await deadStore.ClaimAsync(posted.PromptId, DispatchRig.BackendId(0), posted.JobId, Token)).Mine);
        var node = rig.Emulators[0].Client;
        using var post = await node.PostAsJsonAsync("prompt", new JsonObject
        {
            ["prompt"] = posted.Prompt.DeepClone(),
            ["prompt_id"] = posted.PromptId,
            ["client_id"] = clientId,
        }, Token);
        post.EnsureSuccessStatusCode();
        var postedNumber = (int)(await post.Content.ReadFromJsonAsync<JsonObject>(Token))!["number"]!;

        // Act: the AppHost starts the replica again under the same instance id
        var restartedAt = DateTimeOffset.UtcNow;
        rig.AddReplica("backend-service-0", settings);
        var started = await rig.Events.WaitForAsync(notPosted.PromptId, RenderEventKinds.Started, TimeSpan.FromSeconds(45));
        var postedEnd = await rig.Events.WaitForAsync(posted.PromptId, timeout: TimeSpan.FromSeconds(45));
        var notPostedEnd = await rig.Events.WaitForAsync(notPosted.PromptId, timeout: TimeSpan.FromSeconds(45));
        var gap = started.At - restartedAt;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"restarted replica: the command its predecessor held unposted started {gap.TotalSeconds:0.00} s after the restart (including the replica's own start; " +
            "the visibility timeout would have held it 60 s)");

        // Assert: both ended, within the visibility timeout; the posted one was tracked, not posted again
        Assert.Equal(RenderEventKinds.Completed, postedEnd.Kind);
        Assert.Equal(RenderEventKinds.Completed, notPostedEnd.Kind);
        Assert.True(gap < TimeSpan.FromSeconds(45), $"the unposted command started {gap.TotalSeconds:0.0} s after the restart");
        var history = (await node.GetFromJsonAsync<JsonObject>("history", Token))!;
        Assert.Equal(postedNumber, (int)history[posted.PromptId]!["prompt"]![0]!);
        Assert.Equal(2, history.Count);
        Assert.Equal(new QueueCounts(0, 0), await rig.Queue.GetCountsAsync(backendQueue, Token));
    }

    private static RunPromptCommand NewCommand(long seed) =>
        new(Guid.NewGuid().ToString(), "job-" + Guid.NewGuid().ToString("N")[..8], DispatchRig.BackendId(0),
            DispatchRig.ProgressWorkflow(steps: 2, delayMs: 10, seed: seed), DateTimeOffset.UtcNow);
}
