using DirectorsConsole.Messaging;
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
    public async Task AddRedisMessagingRegistersEverythingAndReportsHealthy()
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
        Assert.True(host.Services.GetRequiredService<DirectorsConsole.Messaging.Durability.DurabilityGate>().IsOpen);
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
    [InlineData("password=x", "ConnectionStrings:redis names no endpoint")]
    [InlineData("localhost:6379,bogus=1", "ConnectionStrings:redis is invalid")]
    public async Task InvalidSettingsStopTheHostAtStartWithAClearMessage(string? connectionString, string expected)
    {
        using var host = BuildHost(connectionString);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public async Task ZeroDurationsStopTheHostAtStartNamingEverySetting()
    {
        using var host = BuildHost("localhost:6379", new() { ["Redis:CommandTimeout"] = "00:00:00", ["Redis:ConnectTimeout"] = "-00:00:01" });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Equal(
            ["Redis:CommandTimeout must be a positive duration (it is 00:00:00).", "Redis:ConnectTimeout must be a positive duration (it is -00:00:01)."],
            error.Failures);
    }

    [Fact]
    public void TheRedisSectionIsAppliedOverTheConnectionString()
    {
        var configuration = new RedisOptions
        {
            ConnectionString = "cache.local:6380,password=p=w,user=svc,syncTimeout=250,name=from-string",
            CommandTimeout = TimeSpan.FromSeconds(9),
            ClientName = "from-options",
        }.ToConfigurationOptions();

        var endpoint = Assert.IsType<System.Net.DnsEndPoint>(Assert.Single(configuration.EndPoints));
        Assert.Equal(("cache.local", 6380), (endpoint.Host, endpoint.Port));
        Assert.Equal(("svc", "p=w"), (configuration.User, configuration.Password));
        Assert.Equal(9000, configuration.SyncTimeout);
        Assert.Equal(9000, configuration.AsyncTimeout);
        Assert.Equal("from-string", configuration.ClientName);
        Assert.False(configuration.AbortOnConnectFail);
    }

    private static IHost BuildHost(string? connectionString, Dictionary<string, string?>? settings = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = connectionString,
            ["Redis:CommandTimeout"] = "00:00:05",
            ["Redis:ReconnectMaxDelay"] = "00:00:00.500",
        });
        builder.Configuration.AddInMemoryCollection(settings ?? []);
        builder.AddRedisMessaging();
        builder.AddRedisDurabilityMonitor();
        return builder.Build();
    }
}
