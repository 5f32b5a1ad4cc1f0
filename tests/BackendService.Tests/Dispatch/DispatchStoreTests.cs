using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>The record of a prompt's final event takes it out of its backend's in-flight hash in the same script, also
/// when the prompt had ended before (nothing else is written then); other events leave it in flight.</summary>
public sealed class DispatchStoreTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AFinalEventLeavesTheInFlightHashInTheScriptThatRecordsItEvenForAPromptThatHadEnded()
    {
        // Arrange
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var scripts = new ScriptCounter(redis);
        var store = new DispatchStore(scripts, Options.Create(new DispatchOptions()));
        var (backendId, promptId) = ("store-" + Guid.NewGuid().ToString("N"), Guid.NewGuid().ToString());
        var inFlight = new InFlightPrompt(promptId, "job", DateTimeOffset.UtcNow, new Dictionary<string, string>());
        RenderEvent Event(string kind) => new(kind, promptId, "job", backendId, DateTimeOffset.UtcNow);
        await store.AddInFlightAsync(backendId, inFlight, Token);

        // Act, assert: progress keeps it in flight; the completion, one script, ends it
        Assert.True(await store.RecordPromptEventAsync(Event(RenderEventKinds.Progress), "{}", Token));
        var stillInFlight = await store.ListInFlightAsync(backendId, Token);
        var before = scripts.Scripts;
        Assert.True(await store.RecordPromptEventAsync(Event(RenderEventKinds.Completed), "{}", Token));
        Assert.Equal(1, scripts.Scripts - before);
        Assert.Equal([promptId], stillInFlight.Select(p => p.PromptId));
        Assert.Empty(await store.ListInFlightAsync(backendId, Token));

        // A late final event of the ended prompt (its record put back meanwhile) writes no state but still ends it
        await store.AddInFlightAsync(backendId, inFlight, Token);
        Assert.False(await store.RecordPromptEventAsync(Event(RenderEventKinds.Failed), "{}", Token));
        Assert.Empty(await store.ListInFlightAsync(backendId, Token));
        Assert.True(await store.HasEndedAsync(promptId, Token));
        Assert.Equal(RenderEventKinds.Completed, await redis.HashGetAsync(RenderChannels.PromptStateKey(promptId), "status", Token));
    }
}
