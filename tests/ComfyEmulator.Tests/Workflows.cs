using System.Text.Json.Nodes;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>API-format prompts the tests queue; the same graphs run on a real ComfyUI with the test_progress node.</summary>
public static class Workflows
{
    public static JsonObject EmptyImageSave(string prefix = "test", long color = 0x3366CC) => new()
    {
        ["1"] = Node("EmptyImage", new JsonObject { ["width"] = 16, ["height"] = 8, ["batch_size"] = 1, ["color"] = color }),
        ["2"] = Node("SaveImage", new JsonObject { ["images"] = Link("1"), ["filename_prefix"] = prefix }),
    };

    public static JsonObject ProgressImageSave(int steps, int delayMs, long seed, string prefix = "test") => new()
    {
        ["10"] = Node("TestProgressImage", new JsonObject { ["steps"] = steps, ["delay_ms"] = delayMs, ["seed"] = seed, ["width"] = 8, ["height"] = 8 }),
        ["11"] = Node("SaveImage", new JsonObject { ["images"] = Link("10"), ["filename_prefix"] = prefix }),
    };

    public static JsonObject TextToImage(string checkpoint, int steps, long seed, string prefix = "txt2img") => new()
    {
        ["4"] = Node("CheckpointLoaderSimple", new JsonObject { ["ckpt_name"] = checkpoint }),
        ["6"] = Node("CLIPTextEncode", new JsonObject { ["text"] = "a lighthouse at dusk", ["clip"] = Link("4", 1) }),
        ["7"] = Node("CLIPTextEncode", new JsonObject { ["text"] = "blurry", ["clip"] = Link("4", 1) }),
        ["5"] = Node("EmptyLatentImage", new JsonObject { ["width"] = 64, ["height"] = 48, ["batch_size"] = 1 }),
        ["3"] = Node("KSampler", new JsonObject
        {
            ["model"] = Link("4"), ["seed"] = seed, ["steps"] = steps, ["cfg"] = 7, ["sampler_name"] = "euler", ["scheduler"] = "normal",
            ["positive"] = Link("6"), ["negative"] = Link("7"), ["latent_image"] = Link("5"), ["denoise"] = 1,
        }),
        ["8"] = Node("VAEDecode", new JsonObject { ["samples"] = Link("3"), ["vae"] = Link("4", 2) }),
        ["9"] = Node("SaveImage", new JsonObject { ["images"] = Link("8"), ["filename_prefix"] = prefix }),
    };

    public static JsonObject Node(string classType, JsonObject inputs) => new() { ["class_type"] = classType, ["inputs"] = inputs };

    public static JsonArray Link(string nodeId, int slot = 0) => new(nodeId, slot);
}
