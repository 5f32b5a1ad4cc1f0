using System.Net;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>A backend deleted or disabled while it renders: what runs there ends normally, nothing new goes to it.</summary>
public sealed class BackendRetirementTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static string Backend => DispatchRig.BackendId(0);

    [Fact]
    public async Task ADeletedBackendFinishesItsRunningPromptWithOutputsAndTakesNoNewOnes()
    {
        // Arrange: a render of about three seconds, started
        await using var rig = await DispatchRig.StartAsync();
        using var client = rig.Replicas[0].CreateClient();
        var running = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 30, delayMs: 100));
        await rig.Events.WaitForAsync(running.PromptId, RenderEventKinds.Progress);

        // Act
        using var deleted = await client.DeleteAsync($"/api/backends/{Backend}", Token);
        var named = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 2, delayMs: 10), backendId: Backend);
        var refused = await rig.Events.WaitForAsync(named.PromptId);
        var completed = await rig.Events.WaitForAsync(running.PromptId);
        var leases = rig.Replicas[0].Services.GetRequiredService<BackendLeaseManager>();
        var leaseLetGo = await Eventually.ReturnsAsync(
            async () => (
                Retiring: await rig.Redis.HashGetAsync(BackendKeys.Retiring, Backend, Token),
                Lease: await rig.Redis.StringGetAsync(BackendKeys.Lease(Backend), Token),
                Held: leases.Holds(Backend)),
            state => state is { Retiring: null, Lease: null, Held: false });
        using var lookup = await client.GetAsync($"/api/backends/{Backend}", Token);

        // Assert
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        Assert.Equal(RenderEventKinds.Failed, refused.Kind);
        Assert.Equal(RenderErrorTypes.NoEligibleBackend, refused.ErrorType);
        Assert.Equal(RenderEventKinds.Completed, completed.Kind);
        Assert.Contains(completed.Outputs!, o => o.Kind == "images");
        Assert.Equal(HttpStatusCode.NotFound, lookup.StatusCode);
        Assert.Null(leaseLetGo.Retiring);
        Assert.Null(leaseLetGo.Lease);
        Assert.Empty(await rig.Redis.HashGetAllAsync(BackendKeys.InFlight(Backend), Token));
        Assert.Null(await rig.Redis.HashGetAsync(BackendKeys.States, Backend, Token));
        Assert.False(leaseLetGo.Held);
    }

    [Fact]
    public async Task ADisabledBackendFinishesItsRunningPromptAndRefusesNewOnes()
    {
        // Arrange
        await using var rig = await DispatchRig.StartAsync();
        using var client = rig.Replicas[0].CreateClient();
        var running = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 30, delayMs: 100));
        await rig.Events.WaitForAsync(running.PromptId, RenderEventKinds.Progress);

        // Act
        using var disabled = await client.PostAsync($"/api/backends/{Backend}/disable", null, Token);
        var named = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 2, delayMs: 10), backendId: Backend);
        var refused = await rig.Events.WaitForAsync(named.PromptId);
        var completed = await rig.Events.WaitForAsync(running.PromptId);

        // Assert
        Assert.Equal(HttpStatusCode.OK, disabled.StatusCode);
        Assert.Equal(RenderErrorTypes.NoEligibleBackend, refused.ErrorType);
        Assert.Equal(RenderEventKinds.Completed, completed.Kind);
        Assert.Contains(completed.Outputs!, o => o.Kind == "images");
    }

    [Fact]
    public async Task ADeletedBackendWhoseNodeIsGoneTooHandsItsPromptToFailOver()
    {
        // Arrange
        await using var rig = await DispatchRig.StartAsync();
        using var client = rig.Replicas[0].CreateClient();
        var running = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 400, delayMs: 50));
        await rig.Events.WaitForAsync(running.PromptId, RenderEventKinds.Progress);

        // Act
        using var deleted = await client.DeleteAsync($"/api/backends/{Backend}", Token);
        await rig.Emulators[0].KillAsync();
        var lost = await rig.Events.WaitForAsync(running.PromptId, timeout: TimeSpan.FromSeconds(30));
        var retired = await Eventually.ReturnsAsync(
            () => rig.Redis.HashGetAsync(BackendKeys.Retiring, Backend, Token), entry => entry is null);

        // Assert: backend_lost is what JobService moves to another backend
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        Assert.Equal(RenderEventKinds.Failed, lost.Kind);
        Assert.Equal(RenderErrorTypes.BackendLost, lost.ErrorType);
        Assert.Null(retired);
    }
}
