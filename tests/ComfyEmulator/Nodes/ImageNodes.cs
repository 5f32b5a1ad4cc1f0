using System.IO.Compression;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Imaging;
using DirectorsConsole.ComfyEmulator.Json;

namespace DirectorsConsole.ComfyEmulator.Nodes;

/// <summary>nodes.py EmptyImage: a batch of images filled with <c>color</c> (0xRRGGBB).</summary>
public sealed class EmptyImageNode : IEmulatedNode
{
    public string ClassType => "EmptyImage";

    public Task<NodeOutput> ExecuteAsync(NodeInvocation invocation)
    {
        var colour = Rgb.FromInt(invocation.Int("color", 0));
        var images = new ImageBatch((int)invocation.Int("width", 512), (int)invocation.Int("height", 512),
            [.. Enumerable.Repeat(colour, (int)invocation.Int("batch_size", 1))]);
        return Task.FromResult(new NodeOutput([images]));
    }
}

/// <summary>nodes.py SaveImage: <c>&lt;prefix&gt;_&lt;counter:05&gt;_.png</c> in the output folder, with the prompt and workflow as tEXt.</summary>
public sealed class SaveImageNode : IEmulatedNode
{
    public string ClassType => "SaveImage";

    public Task<NodeOutput> ExecuteAsync(NodeInvocation invocation) =>
        Task.FromResult(ImageFiles.Save(invocation, invocation.Services.Folders.Output, "output",
            invocation.Text("filename_prefix", "ComfyUI"), CompressionLevel.Optimal));
}

/// <summary>nodes.py PreviewImage: SaveImage into the temp folder, prefix <c>ComfyUI_temp_xxxxx</c>, fast compression.</summary>
public sealed class PreviewImageNode : IEmulatedNode
{
    /// <summary>ComfyUI's own alphabet for the random suffix (it really lacks 'w' and has 'p' twice).</summary>
    private const string SuffixLetters = "abcdefghijklmnopqrstupvxyz";

    public string ClassType => "PreviewImage";

    public Task<NodeOutput> ExecuteAsync(NodeInvocation invocation)
    {
        var suffix = new string([.. Enumerable.Range(0, 5).Select(_ => SuffixLetters[Random.Shared.Next(SuffixLetters.Length)])]);
        return Task.FromResult(ImageFiles.Save(invocation, invocation.Services.Folders.Temp, "temp",
            "ComfyUI_temp_" + suffix, CompressionLevel.Fastest));
    }
}

/// <summary>
/// custom_nodes/websocket_image_save.py: streams each image as a binary PNG preview frame through the progress
/// hook, writes no file and has no UI output. Its IS_CHANGED is the time, so it never comes from the cache.
/// </summary>
public sealed class SaveImageWebsocketNode : IEmulatedNode
{
    public string ClassType => "SaveImageWebsocket";

    public JsonNode? IsChanged(TimeProvider time) => JsonValue.Create(time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0);

    public async Task<NodeOutput> ExecuteAsync(NodeInvocation invocation)
    {
        var images = invocation.Linked<ImageBatch>("images");
        for (var step = 0; step < images.Colours.Count; step++)
        {
            var png = PngEncoder.EncodeSolid(images.Width, images.Height, images.Colours[step], [], CompressionLevel.Fastest);
            await invocation.ReportProgressAsync(step, images.Colours.Count, png);
        }
        return new NodeOutput([]);
    }
}

/// <summary>The save loop SaveImage and PreviewImage share.</summary>
internal static class ImageFiles
{
    public static NodeOutput Save(NodeInvocation invocation, string outputDir, string type, string filenamePrefix, CompressionLevel level)
    {
        var images = invocation.Linked<ImageBatch>("images");
        var target = invocation.Services.Folders.GetSaveImagePath(filenamePrefix, outputDir, images.Width, images.Height);
        var metadata = new List<KeyValuePair<string, string>> { new("prompt", PythonJson.Serialize(invocation.Prompt)) };
        foreach (var (key, value) in invocation.ExtraPngInfo ?? []) metadata.Add(new(key, PythonJson.Serialize(value)));

        var results = new JsonArray();
        var counter = target.Counter;
        for (var batchNumber = 0; batchNumber < images.Colours.Count; batchNumber++)
        {
            var file = $"{target.Filename.Replace("%batch_num%", batchNumber.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)}_{counter:00000}_.png";
            File.WriteAllBytes(Path.Combine(target.FullOutputFolder, file),
                PngEncoder.EncodeSolid(images.Width, images.Height, images.Colours[batchNumber], metadata, level));
            results.Add(new JsonObject { ["filename"] = file, ["subfolder"] = target.Subfolder, ["type"] = type });
            counter++;
        }
        return new NodeOutput([], new JsonObject { ["images"] = results });
    }
}
