using DirectorsConsole.Comfy;
using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.BackendService.Infrastructure;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

public static class DispatchServiceCollectionExtensions
{
    /// <summary>Dispatch of prompts to ComfyUI nodes: the per-backend worker run by the lease manager, the mover of commands
    /// an earlier version left on the shared queue (on every replica),
    /// cancel, the ComfyUI prompt client and its options (section <c>Backends:Dispatch</c>).</summary>
    public static IHostApplicationBuilder AddRenderDispatch(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<DispatchOptions>()
            .Bind(builder.Configuration.GetSection(DispatchOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<DispatchOptions>, DispatchOptionsValidator>();

        // The host policy refuses metadata and link-local addresses, which matters most for the view proxy.
        // Never retried: a POST /prompt that timed out may have reached ComfyUI, and sending it again would
        // render the prompt twice; the dispatch worker decides what a failure means for the job.
        builder.Services.AddHttpClient(ComfyPromptClient.HttpClientName)
            .ConfigureHttpClient((services, client) => client.Timeout = services.GetRequiredService<IOptions<DispatchOptions>>().Value.RequestTimeout)
            .ConfigurePrimaryHttpMessageHandler(services =>
                BackendHostPolicy.CreateHandler(services.GetRequiredService<IOptions<DispatchOptions>>().Value.SocketConnectTimeout))
            .WithoutRetries();
        // Not retried either: a browser waits on it within the view timeout, and answering 502 at once for a
        // node that is down beats holding the image request through back-off delays.
        builder.Services.AddHttpClient(ComfyPromptClient.ViewHttpClientName)
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(services =>
                BackendHostPolicy.CreateHandler(services.GetRequiredService<IOptions<DispatchOptions>>().Value.SocketConnectTimeout))
            .WithoutRetries();
        builder.Services.AddSingleton<ComfyPromptClient>();

        builder.Services.AddSingleton<DispatchStore>();
        builder.Services.AddSingleton<RenderEventPublisher>();
        builder.Services.AddSingleton<IBackendWorker, BackendDispatchWorker>();
        builder.Services.AddHostedService<DispatchLeftovers>();
        return builder;
    }
}
