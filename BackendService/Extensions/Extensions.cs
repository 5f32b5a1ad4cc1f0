using System.Text.Json;
using DirectorsConsole.ServiceDefaults.Hosting;

namespace Microsoft.Extensions.Hosting;

/// <summary>The backend service's dependencies. The render-node registry, probing and dispatch arrive with the render-node issue; their wire format is snake_case.</summary>
internal static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.ConfigureApiJson(JsonNamingPolicy.SnakeCaseLower);
        return builder;
    }
}
