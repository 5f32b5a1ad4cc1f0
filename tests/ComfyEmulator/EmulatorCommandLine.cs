namespace DirectorsConsole.ComfyEmulator;

/// <summary>
/// The emulator's dashed command-line switches and the <see cref="EmulatorOptions"/> names they set.
/// Unknown switches stop start-up: a mistyped knob that is silently ignored would make a failure test pass for the wrong reason.
/// </summary>
public static class EmulatorCommandLine
{
    public static readonly IReadOnlyDictionary<string, string> Switches = new Dictionary<string, string>
    {
        ["--port"] = "Emulator:Port",
        ["--step-delay-ms"] = "Emulator:StepDelayMs",
        ["--gpu-name"] = "Emulator:GpuName",
        ["--vram-gb"] = "Emulator:VramGb",
        ["--os"] = "Emulator:Os",
        ["--fail-at-node"] = "Emulator:FailAtNode",
        ["--stalled"] = "Emulator:Stalled",
        ["--output-dir"] = "Emulator:OutputDir",
        ["--checkpoints"] = "Emulator:Checkpoints",
        ["--diffusion-models"] = "Emulator:DiffusionModels",
        ["--loras"] = "Emulator:Loras",
        ["--vaes"] = "Emulator:Vaes",
        ["--enable-cors-header"] = "Emulator:EnableCorsHeader",
    };

    /// <summary>
    /// Binds once up front so a value of the wrong type (<c>--port abc</c>) is reported by its switch name, instead of as
    /// a binder exception from deep inside the host when Kestrel first reads the port.
    /// </summary>
    public static void RejectUnconvertibleValues(IConfigurationSection section)
    {
        try
        {
            section.Get<EmulatorOptions>();
        }
        catch (InvalidOperationException e)
        {
            var option = Switches.FirstOrDefault(s => e.Message.Contains($"'{s.Value}'", StringComparison.Ordinal)).Key ?? section.Path;
            throw new ArgumentException($"{option}: {e.Message}", e);
        }
    }

    /// <summary>Throws for a switch that is neither one of ours nor a raw configuration key (<c>--Logging:LogLevel:Default=Warning</c>).</summary>
    public static void RejectUnknownSwitches(string[] args)
    {
        foreach (var arg in args)
        {
            if (!arg.StartsWith("--", StringComparison.Ordinal)) continue;
            var name = arg.Split('=', 2)[0];
            if (!Switches.ContainsKey(name) && !name.Contains(':', StringComparison.Ordinal))
            {
                throw new ArgumentException($"Unknown option {name}. Known options: {string.Join(", ", Switches.Keys)}.");
            }
        }
    }
}
