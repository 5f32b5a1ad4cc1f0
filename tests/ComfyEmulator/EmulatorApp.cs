using DirectorsConsole.ComfyEmulator.Api;
using DirectorsConsole.ComfyEmulator.Nodes;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ComfyEmulator;

/// <summary>Builds the emulator; tests use <see cref="Create"/> with <c>--port 0</c> to run one in-process on a real socket.</summary>
public static class EmulatorApp
{
    public static WebApplication Create(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddApplicationServices(args);

        var app = builder.Build();
        // Resolve now so a catalog without a behaviour (or the reverse) fails at start, not at the first prompt.
        app.Services.GetRequiredService<NodeRegistry>();
        var knobs = app.Services.GetRequiredService<Control.EmulatorKnobs>();
        app.Use((context, next) =>
        {
            // A partitioned node (POST /_emulator/partition) answers nothing but its control routes.
            if (knobs.Unreachable && !context.Request.Path.StartsWithSegments("/_emulator", StringComparison.Ordinal))
            {
                context.Abort();
                return Task.CompletedTask;
            }

            return next(context);
        });
        app.UseComfyCors();
        app.UseWebSockets();
        app.MapComfyApi();
        app.PrintBoundAddressOnStart();
        return app;
    }

    /// <summary>Runs until stopped; a bad option ends start-up with exit code 2 and a one-line reason.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        try
        {
            await using var app = Create(args);
            await app.RunAsync();
            return 0;
        }
        catch (Exception e) when (e is OptionsValidationException or ArgumentException)
        {
            var reason = e is OptionsValidationException invalid ? string.Join(" ", invalid.Failures) : e.Message;
            await Console.Error.WriteLineAsync($"ComfyEmulator: cannot start: {reason}");
            return 2;
        }
    }
}
