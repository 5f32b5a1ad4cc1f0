using System.Text.Json;
using DirectorsConsole.ServiceDefaults.Hosting;

namespace Microsoft.Extensions.Hosting;

/// <summary>The gallery service's dependencies. Projects and the gallery arrive with the gallery issue; spec/03 shows them in camelCase.</summary>
internal static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.ConfigureApiJson(JsonNamingPolicy.CamelCase);
        return builder;
    }
}
