using System.Net;
using System.Text.Json;
using DirectorsConsole.ComfyEmulator.Control;
using DirectorsConsole.ComfyEmulator.Execution;
using DirectorsConsole.ComfyEmulator.Nodes;
using DirectorsConsole.ComfyEmulator.Queue;
using DirectorsConsole.ComfyEmulator.Realtime;
using DirectorsConsole.ComfyEmulator.Storage;
using DirectorsConsole.ComfyEmulator.Validation;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ComfyEmulator;

public static class ApplicationServices
{
    public static WebApplicationBuilder AddApplicationServices(this WebApplicationBuilder builder, string[] args)
    {
        EmulatorCommandLine.RejectUnknownSwitches(args);
        builder.Configuration.AddCommandLine(args, EmulatorCommandLine.Switches.ToDictionary());
        EmulatorCommandLine.RejectUnconvertibleValues(builder.Configuration.GetSection(EmulatorOptions.SectionName));

        var services = builder.Services;
        services.AddOptions<EmulatorOptions>()
            .Bind(builder.Configuration.GetSection(EmulatorOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<EmulatorOptions>, EmulatorOptionsValidator>();

        // ComfyUI listens on loopback only unless told otherwise; so does the emulator, always.
        services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<EmulatorOptions>>((kestrel, options) => kestrel.Listen(IPAddress.Loopback, options.Value.Port));
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<EmulatorKnobs>();
        services.AddSingleton<ComfyFolders>();
        services.AddSingleton<NodeCatalog>();
        NodeRegistry.AddEmulatedNodes(services);
        services.AddSingleton<PromptValidator>();
        services.AddSingleton<ClientHub>();
        services.AddSingleton<PromptQueue>();
        services.AddSingleton<OutputCache>();
        services.AddSingleton<PromptExecutor>();
        services.AddHostedService<PromptWorker>();
        return builder;
    }

    public static void PrintBoundAddressOnStart(this WebApplication app)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
            foreach (var address in addresses ?? [])
            {
                Console.WriteLine($"ComfyEmulator listening on {address}");
            }
        });
    }
}
