using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>The record of a prompt's final event takes it out of its backend's in-flight hash in the same script, also
/// when the prompt had ended before (nothing else is written then); other events leave it in flight. A post's
/// acceptance puts it in that hash in the script that records it, unless it has ended. The claim is one script with the
/// cancel check.</summary>
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

    [Fact]
    public async Task APromptsStateKeepsItsExpiryAndIsRenewedOnlyOnceItHasRunDownByASecond()
    {
        // Arrange: a prompt's state whose expiry has run down by a minute
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var expiry = TimeSpan.FromHours(1);
        var store = new DispatchStore(redis, Options.Create(new DispatchOptions { PromptStateExpiry = expiry }));
        var promptId = Guid.NewGuid().ToString();
        var key = RenderChannels.PromptStateKey(promptId);
        RenderEvent Event(string kind) => new(kind, promptId, "job", "store-backend", DateTimeOffset.UtcNow);
        Assert.True(await store.RecordPromptEventAsync(Event(RenderEventKinds.Started), "{}", Token));
        async Task<long> RemainingAsync() => (await redis.ExecuteAsync(["PTTL", key], Token)).AsInt64();
        var full = (long)expiry.TotalMilliseconds;
        Assert.InRange(await RemainingAsync(), full - 10_000, full);
        await redis.ExecuteAsync(["PEXPIRE", key, full - 60_000], Token);

        // Act, assert: the next event renews it in full
        Assert.True(await store.RecordPromptEventAsync(Event(RenderEventKinds.Progress), "{}", Token));
        Assert.InRange(await RemainingAsync(), full - 10_000, full);

        // An expiry within a second of full is left as it is (no write for it), and the state is still written
        await redis.ExecuteAsync(["PEXPIRE", key, full - 200], Token);
        Assert.True(await store.RecordPromptEventAsync(Event(RenderEventKinds.Completed), "{}", Token));
        Assert.InRange(await RemainingAsync(), full - 10_000, full - 200);
        Assert.Equal(RenderEventKinds.Completed, await redis.HashGetAsync(key, "status", Token));
    }

    [Fact]
    public async Task AWorkersClaimTakesNothingForABackendDeletedOrDisabledSinceItStarted()
    {
        // Arrange: three backends as the registry stores them, one enabled, one disabled, one deleted while it retires
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var store = new DispatchStore(redis, Options.Create(new DispatchOptions()));
        var suffix = Guid.NewGuid().ToString("N")[..8];
        BackendDefinition Definition(string id, bool enabled) => new(id, id, "127.0.0.1", 8188, enabled, [], 1, [], BackendSource.Api);
        var (open, disabled, retiring, gone) = ($"open-{suffix}", $"disabled-{suffix}", $"retiring-{suffix}", $"gone-{suffix}");
        await redis.HashSetAsync(BackendKeys.Definitions, open, BackendRegistry.Serialize(Definition(open, enabled: true)), Token);
        await redis.HashSetAsync(BackendKeys.Definitions, disabled, BackendRegistry.Serialize(Definition(disabled, enabled: false)), Token);
        await redis.HashSetAsync(BackendKeys.Retiring, retiring, BackendRegistry.Serialize(Definition(retiring, enabled: true)), Token);

        // Act
        async Task<PromptClaim> ClaimAsync(string backendId, bool mustBeOpen = true) =>
            await store.ClaimAsync(Guid.NewGuid().ToString(), backendId, "job", Token, backendMustBeOpen: mustBeOpen);

        // Assert: only the open backend claims; nothing is written for the others
        Assert.True((await ClaimAsync(open)).Mine);
        foreach (var closed in new[] { disabled, retiring, gone })
        {
            var claim = await ClaimAsync(closed);
            Assert.True(claim.BackendClosed, closed);
            Assert.False(claim.Mine, closed);
        }

        // A claim that does not ask (a render agent's) is not affected
        Assert.True((await ClaimAsync(gone, mustBeOpen: false)).Mine);
    }

    [Fact]
    public async Task AnAcceptanceIsRecordedInFlightInTheSameScriptUnlessThePromptHasEnded()
    {
        // Arrange
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var scripts = new ScriptCounter(redis);
        var store = new DispatchStore(scripts, Options.Create(new DispatchOptions()));
        var backendId = "store-" + Guid.NewGuid().ToString("N");
        var (posted, ended) = (Guid.NewGuid().ToString(), Guid.NewGuid().ToString());
        InFlightPrompt Record(string promptId) => new(promptId, "job", DateTimeOffset.UtcNow, new Dictionary<string, string> { ["1"] = "KSampler" });
        RenderEvent Event(string promptId, string kind) => new(kind, promptId, "job", backendId, DateTimeOffset.UtcNow);
        Assert.True(await store.RecordPromptEventAsync(Event(ended, RenderEventKinds.Interrupted), "{}", Token));

        // Act
        var before = scripts.Scripts;
        var recorded = await store.RecordPromptEventAsync(Event(posted, RenderEventKinds.Accepted), "{}", Token, Record(posted));
        var writes = scripts.Scripts - before;
        var lateRecorded = await store.RecordPromptEventAsync(Event(ended, RenderEventKinds.Accepted), "{}", Token, Record(ended));

        // Assert
        Assert.True(recorded);
        Assert.Equal(1, writes);
        Assert.False(lateRecorded);
        var inFlight = Assert.Single(await store.ListInFlightAsync(backendId, Token));
        Assert.Equal(posted, inFlight.PromptId);
        Assert.Equal("KSampler", inFlight.Nodes["1"]);
        Assert.Equal(RenderEventKinds.Accepted, await redis.HashGetAsync(RenderChannels.PromptStateKey(posted), "status", Token));
    }

    [Fact]
    public async Task AClaimIsHeldByItsFirstBackendSaysWhetherItWasClaimedBeforeAndClaimsNothingOnceACancelWasRequested()
    {
        // Arrange
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var store = new DispatchStore(redis, Options.Create(new DispatchOptions()));
        var (promptId, cancelled) = (Guid.NewGuid().ToString(), Guid.NewGuid().ToString());
        await redis.StringSetAsync(RenderChannels.CancelKey(cancelled), "1", cancellationToken: Token);

        // Act
        var first = await store.ClaimAsync(promptId, "node-a", "job", Token);
        var again = await store.ClaimAsync(promptId, "node-a", "job", Token);
        var other = await store.ClaimAsync(promptId, "node-b", "job", Token);
        var refused = await store.ClaimAsync(cancelled, "node-a", "job", Token);

        // Assert
        Assert.Equal((true, false, false), (first.Mine, first.CancelRequested, first.ClaimedBefore));
        Assert.Equal((true, false, true), (again.Mine, again.CancelRequested, again.ClaimedBefore));
        Assert.Equal((false, "node-a"), (other.Mine, other.Owner));
        Assert.Equal((false, true), (refused.Mine, refused.CancelRequested));
        Assert.Null(await redis.HashGetAsync(RenderChannels.PromptStateKey(cancelled), "backend_id", Token));
    }
}
