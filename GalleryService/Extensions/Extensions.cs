using System.Text.Json;
using DirectorsConsole.GalleryService.Paths;
using DirectorsConsole.GalleryService.Project;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.ServiceDefaults.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>The gallery service's dependencies: path confinement (shared by the project and gallery endpoints),
/// the current project, the project endpoints' helpers and the gallery (<c>AddGallery</c>). API doc 3 shows them in
/// camelCase.</summary>
internal static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.ConfigureApiJson(JsonNamingPolicy.CamelCase);
        builder.AddPathTranslation();
        builder.Services.AddHttpContextAccessor();

        builder.Services.AddSingleton<IConfigureOptions<ProjectRootsOptions>, ProjectRootsOptions.Setup>();
        builder.Services.AddSingleton<IValidateOptions<ProjectRootsOptions>, ProjectRootsOptions.Validator>();
        builder.Services.AddOptions<ProjectRootsOptions>().ValidateOnStart();
        builder.Services.AddHostedService<ProjectRootsStartup>();
        builder.Services.AddSingleton<CurrentProjectStore>();
        builder.Services.AddSingleton<ProjectPathResolver>();
        builder.Services.AddSingleton<IProjectPathResolver>(sp => sp.GetRequiredService<ProjectPathResolver>());
        builder.Services.AddSingleton<IResponsePathFormatter, ResponsePathFormatter>();
        builder.Services.TryAddSingleton<BackendDirectory>();
        builder.Services.AddSingleton<RenderOutputFetcher>();
        // A GET of a finished render: repeating it changes nothing, so ServiceDefaults' standard resilience
        // handler (retries, timeouts, a circuit breaker per render node) stays on this client.
        builder.Services.AddHttpClient(RenderOutputFetcher.HttpClientName, client => client.Timeout = TimeSpan.FromSeconds(60))
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(10) });
        // Ahead of ServiceDefaults' handlers, whose last one turns every exception into a 500.
        builder.Services.Insert(0, ServiceDescriptor.Singleton<IExceptionHandler, PathExceptionHandler>());
        builder.AddGallery();
        return builder;
    }
}
