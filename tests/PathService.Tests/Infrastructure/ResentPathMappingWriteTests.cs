using DirectorsConsole.Messaging;
using DirectorsConsole.PathService.Infrastructure;
using DirectorsConsole.ServiceDefaults.Paths;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.PathService.Tests.Infrastructure;

/// <summary>A path-mapping write whose reply was lost when the connection died is sent again once Redis answers, and
/// the script recognises its own earlier application: the caller sees the write succeed, and it happened once.</summary>
public sealed class ResentPathMappingWriteTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ACreateWhoseReplyWasLostIsSavedOnce()
    {
        // Arrange
        await using var rig = await StartRigAsync();
        var mapping = NewMapping();

        // Act
        rig.Relay.LoseReplies();
        var create = rig.Store.CreateAsync(mapping, Token);
        await Eventually.ReturnsAsync(() => rig.Direct.HashGetAsync(PathMappingKeys.Mappings, mapping.Id, Token), json => json is not null);
        rig.Relay.BreakConnections();

        // Assert
        Assert.Equal(PathMappingWriteStatus.Saved, await create.WaitAsync(Patience, Token));
        Assert.True(rig.Relay.HasSentWhileLosing(mapping.Id), "the create never reached the server before the connection broke");
        Assert.Single(await rig.Store.ListAsync(Token), m => m.Id == mapping.Id);
        Assert.Equal(mapping, await rig.Store.FindAsync(mapping.Id, Token));
        Assert.Equal(PathMappingWriteStatus.IdTaken, await rig.Store.CreateAsync(mapping with { Name = "another" }, Token));
    }

    [Fact]
    public async Task ADeleteWhoseReplyWasLostIsReportedDone()
    {
        // Arrange
        await using var rig = await StartRigAsync();
        var mapping = NewMapping();
        Assert.Equal(PathMappingWriteStatus.Saved, await rig.Store.CreateAsync(mapping, Token));

        // Act
        rig.Relay.LoseReplies();
        var delete = rig.Store.DeleteAsync(mapping.Id, Token);
        await Eventually.ReturnsAsync(() => rig.Direct.HashGetAsync(PathMappingKeys.Mappings, mapping.Id, Token), json => json is null);
        rig.Relay.BreakConnections();

        // Assert: the resent delete finds its own marker, while a later delete of the same id is told it is gone
        Assert.True(await delete.WaitAsync(Patience, Token));
        Assert.True(rig.Relay.HasSentWhileLosing(mapping.Id), "the delete never reached the server before the connection broke");
        Assert.Null(await rig.Store.FindAsync(mapping.Id, Token));
        Assert.False(await rig.Store.DeleteAsync(mapping.Id, Token));
    }

    private static PathMapping NewMapping()
    {
        var id = Guid.NewGuid().ToString();
        return new PathMapping(id, "Share " + id[..8], @"W:\", "/mnt/" + id[..8], "", Enabled: true);
    }

    private Task<LostReplyRig<PathMappingStore>> StartRigAsync() =>
        LostReplyRig<PathMappingStore>.StartAsync(garnet.Server, (redis, bus) => new PathMappingStore(redis, bus, TimeProvider.System, NullLogger<PathMappingStore>.Instance), Token);
}
