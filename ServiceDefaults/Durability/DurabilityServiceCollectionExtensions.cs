using DirectorsConsole.Messaging.Durability;
using DirectorsConsole.ServiceDefaults.Durability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

public static class DurabilityServiceCollectionExtensions
{
    /// <summary>The durability guard's watch: a monitor that closes the <see cref="DurabilityGate"/> (writes refused,
    /// <c>redis-durability</c> degraded) while Redis cannot persist writes, and opens it again once it can. Needs the
    /// Redis client of <c>AddRedisMessaging</c>.</summary>
    public static IHostApplicationBuilder AddRedisDurabilityMonitor(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<DurabilityOptions>()
            .Bind(builder.Configuration.GetSection(DurabilityOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<DurabilityOptions>, DurabilityOptionsValidator>();
        builder.Services.TryAddSingleton<DurabilityGate>();
        builder.Services.AddHostedService<RedisDurabilityMonitor>();
        builder.Services.AddHealthChecks().AddCheck<DurabilityHealthCheck>("redis-durability", tags: ["ready"]);
        return builder;
    }
}
