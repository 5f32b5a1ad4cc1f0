using System.Text.Json.Nodes;

namespace DirectorsConsole.Testing;

/// <summary>Prompts in ComfyUI's API format that the emulator runs.</summary>
public static class TestPrompts
{
    /// <summary>TestProgressImage (<paramref name="steps"/> × <paramref name="delayMs"/>) → SaveImage, and
    /// SaveImageWebsocket, which sends the image as a binary preview frame, as a sampler's previews come.</summary>
    public static JsonObject ProgressWithPreview(int steps, int delayMs, string filenamePrefix, long seed, int size) => new()
    {
        ["1"] = new JsonObject
        {
            ["class_type"] = "TestProgressImage",
            ["inputs"] = new JsonObject { ["steps"] = steps, ["delay_ms"] = delayMs, ["seed"] = seed, ["width"] = size, ["height"] = size },
        },
        ["2"] = new JsonObject
        {
            ["class_type"] = "SaveImage",
            ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = filenamePrefix },
        },
        ["3"] = new JsonObject
        {
            ["class_type"] = "SaveImageWebsocket",
            ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0) },
        },
    };
}
