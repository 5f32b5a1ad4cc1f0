using System.Text.Json;
using DirectorsConsole.JobService.Apis;
using DirectorsConsole.ServiceDefaults.Hosting;

namespace Microsoft.Extensions.Hosting;

/// <summary>The job service's dependencies: the workflow library (and inbox), the job engine (store, scheduler,
/// render events, streams) and what the endpoints need. The wire format is snake_case (API doc 4).</summary>
internal static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.ConfigureApiJson(JsonNamingPolicy.SnakeCaseLower);
        builder.AddWorkflowLibrary();
        builder.AddJobEngine();
        builder.AddJobApis();
        return builder;
    }
}
