using System.Text.Json;
using DirectorsConsole.ServiceDefaults.Hosting;

namespace Microsoft.Extensions.Hosting;

/// <summary>The job service's dependencies. Jobs, job groups, workflows and scheduling arrive with the jobs issue (spec/04); their wire format is snake_case.</summary>
internal static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.ConfigureApiJson(JsonNamingPolicy.SnakeCaseLower);
        builder.AddWorkflowLibrary();
        builder.AddJobEngine();
        return builder;
    }
}
