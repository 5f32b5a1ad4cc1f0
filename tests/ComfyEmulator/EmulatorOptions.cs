using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ComfyEmulator;

/// <summary>
/// The emulator's start-up settings, bound from the <c>Emulator</c> configuration section; the command line
/// (<see cref="EmulatorCommandLine"/>) maps its dashed switches onto these names.
/// </summary>
public sealed class EmulatorOptions
{
    public const string SectionName = "Emulator";

    /// <summary>Port on 127.0.0.1; 0 picks any free port.</summary>
    [Range(0, 65535, ErrorMessage = "--port must be between 0 and 65535.")]
    public int Port { get; set; } = 8188;

    /// <summary>Milliseconds each emulated sampler step (KSampler, KSamplerAdvanced) takes.</summary>
    [Range(0, 600_000, ErrorMessage = "--step-delay-ms must be between 0 and 600000.")]
    public int StepDelayMs { get; set; } = 50;

    /// <summary>GPU name reported by /system_stats; empty reports a CPU device, like ComfyUI started with <c>--cpu</c>.</summary>
    public string GpuName { get; set; } = "";

    /// <summary>Total VRAM (and RAM) reported, in GiB.</summary>
    [Range(0.0, 4096.0, ErrorMessage = "--vram-gb must be between 0 and 4096.")]
    public double VramGb { get; set; } = 24;

    /// <summary>Python <c>os.name</c> of the emulated host: <c>posix</c>, or <c>nt</c> for Windows-style backslash paths.</summary>
    [RegularExpression("^(posix|nt)$", ErrorMessage = "--os must be posix or nt.")]
    public string Os { get; set; } = "posix";

    /// <summary>Node id that raises an error whenever it executes; empty for none.</summary>
    public string FailAtNode { get; set; } = "";

    /// <summary>Start stalled: prompts are accepted and started but never finish until un-stalled.</summary>
    public bool Stalled { get; set; }

    /// <summary>ComfyUI's output directory; empty for a per-instance temporary folder deleted on stop.</summary>
    public string OutputDir { get; set; } = "";

    /// <summary>Comma-separated fake files in models/checkpoints (CheckpointLoaderSimple.ckpt_name).</summary>
    public string Checkpoints { get; set; } = "flux1-dev.safetensors,sd_xl_base_1.0.safetensors,v1-5-pruned-emaonly.safetensors";

    /// <summary>Comma-separated fake files in models/diffusion_models (UNETLoader.unet_name).</summary>
    public string DiffusionModels { get; set; } = "flux1-dev.safetensors,flux1-schnell.safetensors";

    /// <summary>Comma-separated fake files in models/loras (LoraLoader.lora_name).</summary>
    public string Loras { get; set; } = "add_detail.safetensors,film_grain_xl.safetensors";

    /// <summary>Comma-separated fake files in models/vae (VAELoader.vae_name).</summary>
    public string Vaes { get; set; } = "ae.safetensors,sdxl_vae.safetensors";

    /// <summary>ComfyUI's <c>--enable-cors-header</c>: the origin every answer allows (<c>*</c> for any), and
    /// <c>OPTIONS</c> preflights answered 200; empty, as in ComfyUI without the switch, sends no CORS headers.</summary>
    public string EnableCorsHeader { get; set; } = "";

    public static IReadOnlyList<string> SplitList(string list) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>Checks what data annotations cannot: model lists and the output directory.</summary>
public sealed class EmulatorOptionsValidator : IValidateOptions<EmulatorOptions>
{
    public ValidateOptionsResult Validate(string? name, EmulatorOptions options)
    {
        var failures = new List<string>();
        foreach (var (switchName, list) in new[]
        {
            ("--checkpoints", options.Checkpoints), ("--diffusion-models", options.DiffusionModels),
            ("--loras", options.Loras), ("--vaes", options.Vaes),
        })
        {
            foreach (var file in EmulatorOptions.SplitList(list))
            {
                if (file.StartsWith('/') || file.Split('/', '\\').Contains(".."))
                {
                    failures.Add($"{switchName}: '{file}' must be a relative file name inside the model folder.");
                }
            }
        }
        if (options.OutputDir.Length > 0 && File.Exists(options.OutputDir))
        {
            failures.Add($"--output-dir: '{options.OutputDir}' is a file, not a directory.");
        }
        if (options.FailAtNode != options.FailAtNode.Trim())
        {
            failures.Add("--fail-at-node: the node id must not have surrounding spaces.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
