using DirectorsConsole.JobService.Engine;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// Every job's end is added to the dashboard's recent ends, which the same commit trims to the dashboard's window. The
/// trim is left out when nothing is old enough to cut (a write command costs the store at every job's end), and still
/// cuts what has left the window.
/// </summary>
public sealed class RecentEndsTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnEndOutsideTheWindowIsCutByTheNextEndAndEndsInsideItStay()
    {
        // Arrange: one end from long ago, one from a minute ago
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var store = new JobStore(redis, NullLogger<JobStore>.Instance);
        var now = DateTimeOffset.UtcNow;
        var window = TimeSpan.FromHours(1);
        var (old, recent, latest) = ("j_" + Guid.NewGuid().ToString("N")[..12], "j_" + Guid.NewGuid().ToString("N")[..12], "j_" + Guid.NewGuid().ToString("N")[..12]);
        await store.CommitAsync(new JobCommit().MarkEnded(old, single: false, now - TimeSpan.FromDays(2), now - TimeSpan.FromDays(3)), Token);
        await store.CommitAsync(new JobCommit().MarkEnded(recent, single: false, now - TimeSpan.FromMinutes(1), now - TimeSpan.FromDays(3)), Token);
        var before = await store.EndedSinceAsync(DateTimeOffset.UnixEpoch, 100, Token);

        // Act: an end now, keeping the last hour
        await store.CommitAsync(new JobCommit().MarkEnded(latest, single: false, now, now - window), Token);
        var afterFirst = await store.EndedSinceAsync(DateTimeOffset.UnixEpoch, 100, Token);
        // and another, with nothing left to cut
        var next = "j_" + Guid.NewGuid().ToString("N")[..12];
        await store.CommitAsync(new JobCommit().MarkEnded(next, single: false, now.AddMilliseconds(1), now - window), Token);
        var afterSecond = await store.EndedSinceAsync(DateTimeOffset.UnixEpoch, 100, Token);

        // Assert
        Assert.Contains(old, before);
        Assert.DoesNotContain(old, afterFirst);
        Assert.Contains(recent, afterFirst);
        Assert.Contains(latest, afterFirst);
        Assert.Equal([recent, latest, next], afterSecond.Where(id => id == recent || id == latest || id == next).ToList());
    }
}
