using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

public static class JobEngineServiceCollectionExtensions
{
    /// <summary>The job engine: <see cref="IJobEngine"/>, <see cref="IJobEventStream"/>, the scheduler, render event
    /// handling, timeouts and cleanup, with their options (section <c>Jobs</c>) validated at start.</summary>
    public static IHostApplicationBuilder AddJobEngine(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<JobEngineOptions>()
            .Bind(builder.Configuration.GetSection(JobEngineOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<JobEngineOptions>, JobEngineOptionsValidator>();

        services.TryAddSingleton<BackendDirectory>();
        services.TryAddSingleton<RenderCancellation>();
        services.AddSingleton<JobStore>();
        services.AddSingleton<SchedulerWake>();
        services.AddSingleton<JobCreationBatcher>();
        services.AddSingleton<JobStateMachine>();
        services.AddSingleton<JobScheduler>();
        services.AddSingleton<PromptStateReader>();
        services.AddSingleton<RenderEventApplier>();
        services.AddSingleton<RenderEventLanes>();
        services.AddSingleton<JobMaintenance>();
        services.AddSingleton<SchedulerLease>();
        services.AddSingleton<JobEngine>();
        services.AddSingleton<IJobEngine>(sp => sp.GetRequiredService<JobEngine>());
        services.AddSingleton<RedisJobEventStream>();
        services.AddSingleton<IJobEventStream>(sp => sp.GetRequiredService<RedisJobEventStream>());
        services.AddHostedService<JobEngineWorker>();
        services.AddSingleton<JobMetrics>();
        services.AddHostedService<JobMetricsSampler>();
        builder.AddWebhooks();
        return builder;
    }
}
