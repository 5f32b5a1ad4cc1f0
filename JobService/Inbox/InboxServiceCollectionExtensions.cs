using DirectorsConsole.JobService.Apis;
using DirectorsConsole.JobService.Inbox;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

public static class InboxServiceCollectionExtensions
{
    /// <summary>The inbox options, always validated; the watcher itself runs only when an inbox folder is configured.</summary>
    public static IHostApplicationBuilder AddInbox(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<InboxOptions>()
            .Bind(builder.Configuration)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<InboxOptions>, InboxOptionsValidator>();
        if (builder.Configuration.Get<InboxOptions>() is { Enabled: true })
        {
            builder.Services.TryAddSingleton<PromptPreparation>();
            builder.Services.AddHostedService<InboxWatcher>();
        }

        return builder;
    }
}
