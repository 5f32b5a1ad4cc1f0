using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.BackendService.Tests.Backends;

/// <summary>A registry write whose reply was lost when the connection died is sent again once Redis answers, and its
/// script recognises its own token: the caller sees the write succeed, and it happened once.</summary>
public sealed class ResentRegistryWriteTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ACreateWhoseReplyWasLostIsSavedOnce()
    {
        // Arrange
        await using var rig = await StartRigAsync();
        var backend = NewBackend();

        // Act
        rig.Relay.LoseReplies();
        var create = rig.Store.CreateAsync(backend, Token);
        await Eventually.ReturnsAsync(() => rig.Direct.HashGetAsync(BackendKeys.Definitions, backend.Id, Token), json => json is not null);
        rig.Relay.BreakConnections();

        // Assert: the resend answers as the create did; another create of the id (another token) is refused
        Assert.Equal(BackendWriteStatus.Saved, await create.WaitAsync(Patience, Token));
        Assert.True(rig.Relay.HasSentWhileLosing(backend.Id), "the create never reached the server before the connection broke");
        Assert.Equal(BackendRegistry.Serialize(backend), BackendRegistry.Serialize((await rig.Store.FindAsync(backend.Id, Token))!));
        Assert.Single(await rig.Store.ListAsync(Token), b => b.Id == backend.Id);
        Assert.Equal(BackendWriteStatus.IdTaken, await rig.Store.CreateAsync(backend, Token));
    }

    [Fact]
    public async Task ADeleteWhoseReplyWasLostIsReportedDone()
    {
        // Arrange
        await using var rig = await StartRigAsync();
        var backend = NewBackend();
        Assert.Equal(BackendWriteStatus.Saved, await rig.Store.CreateAsync(backend, Token));

        // Act
        rig.Relay.LoseReplies();
        var delete = rig.Store.DeleteAsync(backend.Id, Token);
        await Eventually.ReturnsAsync(() => rig.Direct.HashGetAsync(BackendKeys.Definitions, backend.Id, Token), json => json is null);
        rig.Relay.BreakConnections();

        // Assert
        Assert.True(await delete.WaitAsync(Patience, Token));
        Assert.True(rig.Relay.HasSentWhileLosing(backend.Id), "the delete never reached the server before the connection broke");
        Assert.Null(await rig.Store.FindAsync(backend.Id, Token));
        Assert.False(await rig.Store.DeleteAsync(backend.Id, Token));
    }

    private static BackendDefinition NewBackend()
    {
        var id = "resent-" + Guid.NewGuid().ToString("N")[..12];
        return new BackendDefinition(id, id, "127.0.0.1", 8188, Enabled: false, ["sdxl"], 1, [], BackendSource.Api);
    }

    private Task<LostReplyRig<BackendRegistry>> StartRigAsync() =>
        LostReplyRig<BackendRegistry>.StartAsync(garnet.Server, (redis, bus) => new BackendRegistry(redis, bus, TimeProvider.System, NullLogger<BackendRegistry>.Instance), Token);
}
