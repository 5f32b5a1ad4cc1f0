using DirectorsConsole.GalleryService.Gallery;
using DirectorsConsole.GalleryService.Gallery.Storage;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.GalleryService.Tests.Gallery;

/// <summary>The project lock's acquire is sent again when its reply was lost with the connection, and recognises its
/// own token: the writer holds the lock at once instead of waiting out its own lease, and other replicas still wait.</summary>
public sealed class ResentProjectLockTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnAcquireWhoseReplyWasLostHoldsTheLockOnce()
    {
        // Arrange: this replica reaches Garnet through a relay that can lose replies; another replica connects directly
        await using var lostReplies = await LostReplyConnection.StartAsync(garnet.Server.Port, Token);
        var (relay, redis) = (lostReplies.Relay, lostReplies.Redis);
        await using var direct = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        // The wait is shorter than the lease, so an acquire that did not recognise its own token would give up.
        var options = Options.Create(new GalleryOptions { LockWaitMilliseconds = 2_000, LockLeaseMilliseconds = 60_000 });
        var projectLock = new ProjectLock(redis, options, TimeProvider.System, NullLogger<ProjectLock>.Instance);
        var otherReplica = new ProjectLock(direct, options, TimeProvider.System, NullLogger<ProjectLock>.Instance);
        var project = "/projects/" + Guid.NewGuid().ToString("N");
        var key = ProjectLock.KeyOf(project);

        // Act
        relay.LoseReplies();
        var acquire = projectLock.AcquireAsync(project, Token);
        var token = await Eventually.ReturnsAsync(() => direct.StringGetAsync(key, Token), value => value is not null);
        relay.BreakConnections();
        var held = await acquire.WaitAsync(Patience, Token);

        // Assert: held under the token it wrote, so another replica waits; releasing frees it for that replica
        Assert.True(relay.HasSentWhileLosing(key), "the acquire never reached the server before the connection broke");
        await Assert.ThrowsAsync<GalleryBusyException>(() => otherReplica.AcquireAsync(project, Token));
        Assert.Equal(token, await direct.StringGetAsync(key, Token));
        await held.DisposeAsync();
        Assert.Null(await direct.StringGetAsync(key, Token));
        await using var next = await otherReplica.AcquireAsync(project, Token);
    }
}
