using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.BackendService.Tests.Backends;

/// <summary>A lease taken, or taken over from a dead replica, whose reply was lost when the connection died is sent
/// again once Redis answers and finds the lease already its own: the replica knows it holds the backend, instead of
/// leaving it leased to nobody who runs it until the lease expires.</summary>
public sealed class ResentLeaseWriteTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(2);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ALeaseTakeWhoseReplyWasLostIsHeld()
    {
        // Arrange
        await using var rig = await StartRigAsync();
        var backendId = NewBackendId();
        var replica = "backend-service-0-" + Guid.NewGuid().ToString("N")[..8];

        // Act
        rig.Relay.LoseReplies();
        var take = rig.Store.TryAcquireAsync(backendId, replica, Ttl, Token);
        await Eventually.ReturnsAsync(() => rig.Direct.StringGetAsync(BackendKeys.Lease(backendId), Token), holder => holder == replica);
        rig.Relay.BreakConnections();

        // Assert: the resend answers as the take did; another replica still cannot take it
        Assert.True(await take.WaitAsync(Patience, Token));
        Assert.True(rig.Relay.HasSentWhileLosing(replica), "the take never reached the server before the connection broke");
        Assert.Equal(replica, await rig.Store.HolderAsync(backendId, Token));
        Assert.False(await rig.Store.TryAcquireAsync(backendId, "backend-service-1-00000000", Ttl, Token));
        Assert.True(await rig.Store.RenewAsync(backendId, replica, Ttl, Token));
    }

    [Fact]
    public async Task ATakeoverWhoseReplyWasLostIsHeld()
    {
        // Arrange: a lease left by a replica that died
        await using var rig = await StartRigAsync();
        var backendId = NewBackendId();
        var dead = "backend-service-1-" + Guid.NewGuid().ToString("N")[..8];
        var replica = "backend-service-0-" + Guid.NewGuid().ToString("N")[..8];
        Assert.True(await rig.Store.TryAcquireAsync(backendId, dead, Ttl, Token));

        // Act
        rig.Relay.LoseReplies();
        var takeOver = rig.Store.TakeOverAsync(backendId, dead, replica, Ttl, Token);
        await Eventually.ReturnsAsync(() => rig.Direct.StringGetAsync(BackendKeys.Lease(backendId), Token), holder => holder == replica);
        rig.Relay.BreakConnections();

        // Assert: the resend answers as the takeover did; a takeover from another holder than the one there is refused
        Assert.True(await takeOver.WaitAsync(Patience, Token));
        Assert.True(rig.Relay.HasSentWhileLosing(replica), "the takeover never reached the server before the connection broke");
        Assert.Equal(replica, await rig.Store.HolderAsync(backendId, Token));
        Assert.False(await rig.Store.TakeOverAsync(backendId, dead, "backend-service-2-00000000", Ttl, Token));
    }

    private static string NewBackendId() => "lease-" + Guid.NewGuid().ToString("N")[..12];

    private Task<LostReplyRig<BackendLeases>> StartRigAsync() =>
        LostReplyRig<BackendLeases>.StartAsync(garnet.Server, (redis, _) => new BackendLeases(redis), Token);
}
