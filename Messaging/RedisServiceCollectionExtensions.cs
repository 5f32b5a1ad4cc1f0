using DirectorsConsole.Messaging;
using DirectorsConsole.Messaging.Durability;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Microsoft.Extensions.Hosting;

public static class RedisServiceCollectionExtensions
{
    /// <summary>Registers StackExchange.Redis's multiplexer through Aspire's client integration
    /// (<c>AddRedisClient</c>, with its tracing), and on it the command connection, the subscriber, the event bus,
    /// the durable queue, the <see cref="DurabilityGate"/> and a <c>redis</c> health check tagged <c>ready</c>. The
    /// connection string is read from <c>ConnectionStrings:{connectionName}</c> (Aspire's convention) and the other
    /// options from the <c>Redis</c> section; both are validated when the host starts.</summary>
    public static IHostApplicationBuilder AddRedisMessaging(this IHostApplicationBuilder builder, string connectionName = "redis")
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(connectionName);

        var section = builder.Configuration.GetSection(RedisOptions.SectionName);
        builder.Services.AddOptions<RedisOptions>()
            .Bind(section)
            .Configure<IConfiguration>((options, configuration) =>
                options.ConnectionString = configuration.GetConnectionString(connectionName) ?? options.ConnectionString)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<RedisOptions>>(new RedisOptionsValidator(connectionName));

        // Aspire reads the same connection string; the Redis section's timeouts and reconnect policy are applied over
        // it. Its own health check is off: ours is tagged for readiness and answers within a short timeout.
        var options = section.Get<RedisOptions>() ?? new RedisOptions();
        builder.AddRedisClient(
            connectionName,
            settings => settings.DisableHealthChecks = true,
            options.Apply);

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<DurabilityGate>();
        // The options are read (and so validated) before the multiplexer is created: a missing or bad connection
        // string stops the host with our message, not with the client's parse error.
        builder.Services.TryAddSingleton(sp => new RedisConnection(
            ValidatedOptions(sp), sp.GetRequiredService<IConnectionMultiplexer>(),
            sp.GetRequiredService<ILogger<RedisConnection>>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<DurabilityGate>()));
        builder.Services.TryAddSingleton<IRedisConnection>(sp => sp.GetRequiredService<RedisConnection>());
        builder.Services.TryAddSingleton(sp =>
        {
            ValidatedOptions(sp);
            return new RedisSubscriber(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<ILogger<RedisSubscriber>>());
        });
        builder.Services.TryAddSingleton<IRedisSubscriber>(sp => sp.GetRequiredService<RedisSubscriber>());
        builder.Services.TryAddSingleton<IEventBus, RedisEventBus>();
        builder.Services.TryAddSingleton<IDurableQueue, RedisDurableQueue>();

        builder.Services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);
        return builder;
    }

    /// <summary>The Redis options, validated (reading <c>Value</c> runs the validators).</summary>
    private static IOptions<RedisOptions> ValidatedOptions(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<RedisOptions>>();
        _ = options.Value;
        return options;
    }
}
