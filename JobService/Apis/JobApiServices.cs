using DirectorsConsole.ServiceDefaults.Backends;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace DirectorsConsole.JobService.Apis;

public static class JobApiServices
{
    /// <summary>What the job, group and stream endpoints need beside the engine and the workflow library: the backend
    /// registry in Redis (to validate backend ids, affinity and capabilities), prompt preparation and the stream limits.</summary>
    public static IHostApplicationBuilder AddJobApis(this IHostApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton<BackendDirectory>();
        builder.Services.TryAddSingleton<PromptPreparation>();
        builder.Services.AddOptions<JobStreamOptions>()
            .BindConfiguration(JobStreamOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<DebugEndpointsOptions>().Bind(builder.Configuration);
        return builder;
    }
}
