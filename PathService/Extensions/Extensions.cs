using System.Text.Json;
using DirectorsConsole.PathService.Infrastructure;
using DirectorsConsole.ServiceDefaults.Hosting;

namespace Microsoft.Extensions.Hosting;

/// <summary>The path service's dependencies. Path mappings are snake_case on the wire (API doc 3).</summary>
internal static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.ConfigureApiJson(JsonNamingPolicy.SnakeCaseLower);
        builder.AddPathTranslation();
        builder.Services.AddSingleton<PathMappingStore>();
        builder.Services.AddHostedService<PathMappingImporter>();
        return builder;
    }
}
