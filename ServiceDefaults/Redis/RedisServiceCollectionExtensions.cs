using DirectorsConsole.ServiceDefaults.Durability;
using DirectorsConsole.ServiceDefaults.Redis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

public static class RedisServiceCollectionExtensions
{
    /// <summary>Registers the Redis client (one multiplexed connection, one subscriber socket), the event bus,
    /// the durable queue, a <c>redis</c> health check tagged <c>ready</c>, and the durability guard: a monitor that
    /// closes the <see cref="DurabilityGate"/> (writes refused, <c>redis-durability</c> degraded) while Redis cannot
    /// persist writes. The connection string is read
    /// from <c>ConnectionStrings:{connectionName}</c> (Aspire's convention) and the other options from the
    /// <c>Redis</c> section; both are validated when the host starts.</summary>
    public static IHostApplicationBuilder AddRedisClient(this IHostApplicationBuilder builder, string connectionName = "redis")
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(connectionName);

        builder.Services.AddOptions<RedisOptions>()
            .Bind(builder.Configuration.GetSection(RedisOptions.SectionName))
            .Configure<IConfiguration>((options, configuration) =>
                options.ConnectionString = configuration.GetConnectionString(connectionName) ?? options.ConnectionString)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<RedisOptions>>(new RedisOptionsValidator(connectionName));

        builder.Services.AddOptions<DurabilityOptions>()
            .Bind(builder.Configuration.GetSection(DurabilityOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<DurabilityOptions>, DurabilityOptionsValidator>();

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<DurabilityGate>();
        builder.Services.TryAddSingleton<RedisConnection>();
        builder.Services.TryAddSingleton<IRedisConnection>(sp => sp.GetRequiredService<RedisConnection>());
        builder.Services.TryAddSingleton<RedisSubscriber>();
        builder.Services.TryAddSingleton<IRedisSubscriber>(sp => sp.GetRequiredService<RedisSubscriber>());
        builder.Services.TryAddSingleton<IEventBus, RedisEventBus>();
        builder.Services.TryAddSingleton<IDurableQueue, RedisDurableQueue>();

        builder.Services.AddHostedService<RedisDurabilityMonitor>();

        builder.Services.AddHealthChecks()
            .AddCheck<RedisHealthCheck>("redis", tags: ["ready"])
            .AddCheck<DurabilityHealthCheck>("redis-durability", tags: ["ready"]);
        return builder;
    }
}
