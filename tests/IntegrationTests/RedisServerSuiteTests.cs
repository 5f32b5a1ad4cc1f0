using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Extensions;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// The suite with <c>redis_server: redis-server</c>: the AppHost runs Debian's redis-server instead of the embedded
/// Garnet, with its append-only file under data_dir/redis-server, and the same kill under submissions as
/// <see cref="RedisRestartTests"/> loses and repeats nothing.
/// </summary>
public sealed class RedisServerSuiteTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SubmissionsRideOutARedisServerKilledAndRestartedByTheAppHost()
    {
        Assert.SkipUnless(RedisServerProcess.IsRedisServerAvailable, "redis-server is not installed (apt-get install redis-server).");

        // Arrange
        var workingDirectory = Directory.CreateTempSubdirectory("dc-redis-server-").FullName;
        try
        {
            await using var suite = await SuiteApp.StartAsync(workingDirectory, [], Token, "redis_server: redis-server\n");
            var processes = suite.FindSuiteProcesses();
            var store = suite.App.Services.GetRequiredService<DistributedApplicationModel>().Resources.OfType<LocalRedisResource>().Single();

            // Act and assert: the kill under submissions
            await new StoreRestartScenario(suite).RunAsync("redis-server");

            // Assert: redis-server, not Garnet, with its file where the README says
            Assert.IsType<RedisServerResource>(store);
            Assert.DoesNotContain(processes, p => SuiteProcess.Runs(p.CommandLine, "GarnetServer"));
            Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(workingDirectory, "data", "redis-server"), "*.aof", SearchOption.AllDirectories));
        }
        finally
        {
            Directory.Delete(workingDirectory, recursive: true);
        }
    }
}
