using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Control;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ComfyEmulator.Nodes;

/// <summary>
/// Node definitions as data: the /object_info entries of a real ComfyUI 0.3.64 (embedded from
/// Nodes/node_definitions.json), keyed by class name, with the model-file combos filled from the configured fake
/// model lists. Validation and execution read the same definitions a client sees.
/// </summary>
public sealed class NodeCatalog
{
    /// <summary>Which combo lists which model folder (ComfyUI's <c>folder_paths.get_filename_list</c>).</summary>
    private static readonly (string ClassType, string Input, Func<EmulatorOptions, string> Files, string[] Always)[] ModelCombos =
    [
        ("CheckpointLoaderSimple", "ckpt_name", o => o.Checkpoints, []),
        ("UNETLoader", "unet_name", o => o.DiffusionModels, []),
        ("LoraLoader", "lora_name", o => o.Loras, []),
        // VAELoader always offers pixel_space after the files (nodes.py VAELoader.vae_list).
        ("VAELoader", "vae_name", o => o.Vaes, ["pixel_space"]),
    ];

    private readonly JsonObject definitions;
    private readonly EmulatorOptions options;
    private readonly EmulatorKnobs knobs;

    public NodeCatalog(IOptions<EmulatorOptions> options, EmulatorKnobs knobs)
    {
        using var stream = typeof(NodeCatalog).Assembly.GetManifestResourceStream("node_definitions.json")
            ?? throw new InvalidOperationException("node_definitions.json is not embedded.");
        definitions = JsonNode.Parse(stream)?.AsObject() ?? throw new InvalidOperationException("node_definitions.json is not a JSON object.");
        this.options = options.Value;
        this.knobs = knobs;
    }

    public IEnumerable<string> ClassTypes => definitions.Select(p => p.Key);

    public bool Contains(string classType) => definitions.ContainsKey(classType);

    /// <summary>The /object_info entry of one class, or null for an unknown class.</summary>
    public JsonObject? Definition(string classType)
    {
        if (definitions[classType] is not JsonObject stored) return null;
        var definition = (JsonObject)stored.DeepClone();
        foreach (var combo in ModelCombos.Where(c => c.ClassType == classType))
        {
            definition["input"]!["required"]![combo.Input]![0] = new JsonArray([.. ModelFiles(combo.Files(options)), .. combo.Always.Select(v => (JsonNode?)v)]);
        }
        return definition;
    }

    public JsonObject All() => new(definitions.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)Definition(p.Key))));

    /// <summary>ComfyUI answers an unknown class with an empty object, not 404.</summary>
    public JsonObject Single(string classType) =>
        Definition(classType) is { } definition ? new JsonObject { [classType] = definition } : [];

    public bool IsOutputNode(string classType) => definitions[classType]?["output_node"]?.GetValue<bool>() == true;

    /// <summary>The files of one model folder, for <c>GET /models/{folder}</c>; null when the emulator has no such folder.</summary>
    public IReadOnlyList<string>? ModelFolder(string folder) => folder switch
    {
        "checkpoints" => [.. ModelFiles(options.Checkpoints).Select(n => n!.GetValue<string>())],
        "diffusion_models" => [.. ModelFiles(options.DiffusionModels).Select(n => n!.GetValue<string>())],
        "loras" => [.. ModelFiles(options.Loras).Select(n => n!.GetValue<string>())],
        "vae" => [.. ModelFiles(options.Vaes).Select(n => n!.GetValue<string>())],
        _ when ModelFolderNames.Contains(folder) => [],
        _ => null,
    };

    /// <summary>ComfyUI 0.3.64's <c>folder_names_and_paths</c> keys, in its order.</summary>
    public static readonly IReadOnlyList<string> ModelFolderNames =
    [
        "checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision", "style_models",
        "embeddings", "diffusers", "vae_approx", "controlnet", "gligen", "upscale_models", "latent_upscale_models",
        "custom_nodes", "hypernetworks", "photomaker", "classifiers", "model_patches", "audio_encoders",
    ];

    /// <summary>Sorted like Python's <c>sorted()</c>; a Windows host lists subfolders with backslashes.</summary>
    private IEnumerable<JsonNode?> ModelFiles(string list) =>
        EmulatorOptions.SplitList(list)
            .Select(name => knobs.IsNt ? name.Replace('/', '\\') : name)
            .Order(StringComparer.Ordinal)
            .Select(name => (JsonNode?)name);
}
