using DirectorsConsole.ServiceDefaults.Redis;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

public sealed class RedisServiceRegistrationTests(RedisTestServers servers)
{
    [Fact]
    public async Task AddRedisClientRegistersEverythingAndReportsHealthy()
    {
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(RedisServerKind.Garnet);
        using var host = BuildHost(server.ConnectionString);
        await host.StartAsync(ct);

        var redis = host.Services.GetRequiredService<IRedisConnection>();
        Assert.Same(redis, host.Services.GetRequiredService<RedisConnection>());
        Assert.IsType<RedisSubscriber>(host.Services.GetRequiredService<IRedisSubscriber>());
        Assert.IsType<RedisEventBus>(host.Services.GetRequiredService<IEventBus>());
        Assert.IsType<RedisDurableQueue>(host.Services.GetRequiredService<IDurableQueue>());
        var report = await host.Services.GetRequiredService<HealthCheckService>()
            .CheckHealthAsync(check => check.Tags.Contains("ready"), ct);

        Assert.Equal(["redis", "redis-durability"], report.Entries.Keys.Order());
        Assert.All(report.Entries.Values, entry => Assert.Equal(HealthStatus.Healthy, entry.Status));
        Assert.True(host.Services.GetRequiredService<DirectorsConsole.ServiceDefaults.Durability.DurabilityGate>().IsOpen);
        await host.StopAsync(ct);
    }

    [Fact]
    public async Task HealthIsUnhealthyWithTheReasonWhileRedisIsDown()
    {
        var ct = TestContext.Current.CancellationToken;
        using var host = BuildHost($"127.0.0.1:{TestPorts.GetFreeTcpPort()}");
        // The service starts although Redis is not there: connecting happens in the background.
        await host.StartAsync(ct);

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(ct);

        var entry = report.Entries["redis"];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Contains("Redis", entry.Description);
        await host.StopAsync(ct);
    }

    [Theory]
    [InlineData(null, "ConnectionStrings:redis is not set")]
    [InlineData("localhost:notaport", "ConnectionStrings:redis is invalid")]
    [InlineData("localhost:6379,ssl=true", "TLS")]
    [InlineData("localhost:6379,bogus=1", "Unknown Redis connection string option 'bogus'")]
    public async Task InvalidSettingsStopTheHostAtStartWithAClearMessage(string? connectionString, string expected)
    {
        using var host = BuildHost(connectionString);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void ConnectionStringsInTheStackExchangeFormatAreRead()
    {
        var parsed = RedisConnectionString.Parse("cache.local:6380,password=p=w,user=svc,connectTimeout=1500,syncTimeout=250,protocol=resp3,abortConnect=false");

        Assert.Equal(
            new RedisConnectionString("cache.local", 6380, "svc", "p=w", true, null, TimeSpan.FromMilliseconds(1500), TimeSpan.FromMilliseconds(250)),
            parsed);
        Assert.Equal(("::1", 7000), (RedisConnectionString.Parse("[::1]:7000").Host, RedisConnectionString.Parse("[::1]:7000").Port));
        Assert.Equal(RedisConnectionString.DefaultPort, RedisConnectionString.Parse("redis").Port);
        Assert.Throws<FormatException>(() => RedisConnectionString.Parse("a:1,b:2"));
        Assert.Throws<FormatException>(() => RedisConnectionString.Parse("password=x"));
        Assert.Throws<FormatException>(() => RedisConnectionString.Parse("a:1,syncTimeout=-5"));
    }

    [Fact]
    public void TimeoutsInTheConnectionStringWinOverTheOptions()
    {
        var settings = new RedisOptions { ConnectionString = "h:1,syncTimeout=250", CommandTimeout = TimeSpan.FromSeconds(9) }.Resolve();

        Assert.Equal(TimeSpan.FromMilliseconds(250), settings.CommandTimeout);
        Assert.Equal(TimeSpan.FromSeconds(5), settings.ConnectTimeout);
    }

    private static IHost BuildHost(string? connectionString)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = connectionString,
            ["Redis:CommandTimeout"] = "00:00:05",
            ["Redis:ReconnectMaxDelay"] = "00:00:00.500",
        });
        builder.AddRedisClient();
        return builder.Build();
    }
}
