using System.Net.Http.Json;
using DirectorsConsole.ServiceDefaults.Paths;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.PathService.Tests.Api;

/// <summary>Two factories on one Redis are two replicas: what one changes, the other's cached translator
/// follows.</summary>
public sealed class PathTranslatorSourceTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task ChangesMadeThroughOneReplicaReachTheOthersTranslatorWithinASecond()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var writer = new ServiceFactory<Program>(garnet.ConnectionString);
        await using var reader = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = writer.CreateClient();
        var known = await client.CreateMappingAsync(PathServiceClient.Unique(), ct);
        var source = reader.Services.GetRequiredService<IPathTranslatorSource>();
        Assert.True(await PathServiceClient.EventuallyAsync(
            () => Task.FromResult(source.Current.Mappings.Any(m => m.Id == (string?)known["id"])), TimeSpan.FromSeconds(10), ct),
            "The reader never loaded the mappings.");
        var token = PathServiceClient.Unique();
        var path = $"/mnt/{token}/shot_010";

        // Act
        var mapping = await client.CreateMappingAsync(token, ct);
        var created = await PathServiceClient.EventuallyAsync(
            () => Task.FromResult(source.Current.Translate(path, PathOs.Windows).Mapping?.Id == (string?)mapping["id"]), Propagation, ct);
        await client.PutAsJsonAsync($"/api/path-mappings/{mapping["id"]}",
            new { name = $"Share {token}", windows = "R:\\", linux = $"/mnt/{token}" }, ct);
        var updated = await PathServiceClient.EventuallyAsync(
            () => Task.FromResult(source.Current.Translate(path, PathOs.Windows).Path == "R:\\shot_010"), Propagation, ct);
        await client.DeleteAsync($"/api/path-mappings/{mapping["id"]}", ct);
        var deleted = await PathServiceClient.EventuallyAsync(
            () => Task.FromResult(source.Current.Translate(path, PathOs.Windows).Mapping is null), Propagation, ct);

        // Assert
        Assert.True(created, "The created mapping did not reach the other replica within a second.");
        Assert.True(updated, "The updated mapping did not reach the other replica within a second.");
        Assert.True(deleted, "The deleted mapping did not leave the other replica within a second.");
    }

    [Fact]
    public async Task FreshTranslatorsIncludeChangesThatWereNeverAnnounced()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        var source = factory.Services.GetRequiredService<IPathTranslatorSource>();
        var redis = factory.Services.GetRequiredService<IRedisConnection>();
        var token = PathServiceClient.Unique();
        await WriteWithoutAnnouncingAsync(redis, token, ct);

        // Act
        var translator = await source.GetFreshAsync(ct);

        // Assert
        Assert.Equal($"/Volumes/{token}/x", translator.Translate($"/mnt/{token}/x", PathOs.Macos).Path);
    }

    [Fact]
    public async Task ReloadsAfterReconnectingToRedis()
    {
        // Arrange: a server that keeps its data across a restart, and a change the reader was never told about.
        var ct = TestContext.Current.CancellationToken;
        var dataDir = Directory.CreateTempSubdirectory("dc-garnet-").FullName;
        try
        {
            await using var server = await RedisServerProcess.StartGarnetAsync(dataDir, ct);
            // No periodic reload during the test, so only the re-subscription can bring the change in.
            await using var factory = new ServiceFactory<Program>(server.ConnectionString,
                new Dictionary<string, string?> { ["PathTranslation:ReloadInterval"] = "01:00:00", ["Redis:CommitWrites"] = server.ClientsCommitWrites ? "true" : "false" });
            var source = factory.Services.GetRequiredService<IPathTranslatorSource>();
            var redis = factory.Services.GetRequiredService<IRedisConnection>();
            Assert.True(await PathServiceClient.EventuallyAsync(
                () => Task.FromResult(source.Current != PathTranslator.Empty),
                TimeSpan.FromSeconds(10), ct), "The translator was never loaded.");
            var token = PathServiceClient.Unique();
            await WriteWithoutAnnouncingAsync(redis, token, ct);

            // Act
            await server.RestartAsync(ct);
            var reloaded = await PathServiceClient.EventuallyAsync(
                () => Task.FromResult(source.Current.Translate($"/mnt/{token}/x", PathOs.Macos).Mapping is not null),
                TimeSpan.FromSeconds(15), ct);

            // Assert
            Assert.True(reloaded, "The translator did not reload after the subscription was re-established.");
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    // Stands in for an event lost in transit: the mapping and the version change, but nobody is told.
    private static async Task WriteWithoutAnnouncingAsync(IRedisConnection redis, string token, CancellationToken ct)
    {
        var mapping = new PathMapping(Guid.NewGuid().ToString(), $"Silent {token}", "", $"/mnt/{token}", $"/Volumes/{token}", true);
        await redis.HashSetAsync(PathMappingKeys.Mappings, mapping.Id, PathMappingRedis.Serialize(mapping), ct);
        await redis.StringIncrementAsync(PathMappingKeys.Version, cancellationToken: ct);
    }
}
