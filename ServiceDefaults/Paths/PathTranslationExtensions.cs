using DirectorsConsole.ServiceDefaults.Paths;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

public static class PathTranslationExtensions
{
    /// <summary>Registers <see cref="IPathTranslatorSource"/>: a translator kept current from the path mappings
    /// in Redis, for services that translate the paths their clients send. Needs the Redis client and event bus
    /// that <c>AddServiceDefaults</c> registers. Settings: the <c>PathTranslation</c> section.</summary>
    public static IHostApplicationBuilder AddPathTranslation(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Services.Any(service => service.ServiceType == typeof(RedisPathTranslatorSource)))
        {
            return builder;
        }

        builder.Services.AddOptions<PathTranslationOptions>()
            .BindConfiguration(PathTranslationOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<RedisPathTranslatorSource>();
        builder.Services.AddSingleton<IPathTranslatorSource>(sp => sp.GetRequiredService<RedisPathTranslatorSource>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RedisPathTranslatorSource>());
        return builder;
    }
}
