using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace DirectorsConsole.ComfyEmulator.Tests;

public sealed class WebSocketTests
{
    [Fact]
    public async Task ReconnectingWithTheSameClientIdTakesOverAndIsToldTheRunningNode()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        await using var old = await emulator.ConnectAsync("/ws?clientId=artist");
        await old.NextAsync();
        var promptId = await emulator.QueueAsync(Workflows.ProgressImageSave(steps: 1000, delayMs: 20, seed: 5), "artist");
        await old.UntilAsync(f => f.Type == "progress" && f.PromptId == promptId);

        await using var replacement = await emulator.ConnectAsync("/ws?clientId=artist");
        var status = await replacement.NextAsync();
        Assert.Equal("artist", status.Data["sid"]!.GetValue<string>());
        var resumed = await replacement.NextAsync();
        Assert.Equal("executing", resumed.Type);
        Assert.Equal("""{"node":"10"}""", resumed.Data.ToJsonString());

        await replacement.UntilAsync(f => f.Type == "progress");
        old.Buffered();
        await replacement.UntilAsync(f => f.Type == "progress");
        await replacement.UntilAsync(f => f.Type == "progress");
        Assert.Empty(old.Buffered());

        await emulator.PostJsonAsync("/interrupt", new JsonObject { ["prompt_id"] = promptId });
        Assert.Contains(await replacement.UntilRunOverAsync(promptId), f => f.Type == "execution_interrupted");
    }

    [Fact]
    public async Task AClientThatAnnouncedPreviewMetadataGetsType4PreviewFrames()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        await using var socket = await emulator.ConnectAsync("/ws?clientId=meta");
        await socket.SendAsync("""{"type": "feature_flags", "data": {"supports_preview_metadata": true}}""");
        await socket.NextAsync();
        Assert.Equal("feature_flags", (await socket.NextAsync()).Type);

        var prompt = new JsonObject
        {
            ["1"] = Workflows.Node("EmptyImage", new JsonObject { ["width"] = 12, ["height"] = 10, ["batch_size"] = 2, ["color"] = 0xFF0000 }),
            ["2"] = Workflows.Node("SaveImageWebsocket", new JsonObject { ["images"] = Workflows.Link("1") }),
        };
        var promptId = await emulator.QueueAsync(prompt, "meta");
        var previews = (await socket.UntilRunOverAsync(promptId)).Where(f => f.Bytes is not null).ToList();

        Assert.Equal(2, previews.Count);
        foreach (var preview in previews)
        {
            Assert.Equal(4u, preview.EventType);
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(preview.Bytes.AsSpan(4));
            var metadata = JsonNode.Parse(Encoding.UTF8.GetString(preview.Bytes!, 8, length))!;
            Assert.Equal("2", metadata["node_id"]!.GetValue<string>());
            Assert.Equal(promptId, metadata["prompt_id"]!.GetValue<string>());
            Assert.Equal("image/png", metadata["image_type"]!.GetValue<string>());
            var png = PngFile.Parse(preview.Bytes.AsSpan(8 + length));
            Assert.Equal((12, 10, ((byte)255, (byte)0, (byte)0)), (png.Width, png.Height, png.FirstPixel));
        }
    }

    [Fact]
    public async Task APromptWithoutClientIdBroadcastsOnlyStatusProgressAndInterrupts()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        await using var watcher = await emulator.ConnectAsync("/ws?clientId=watcher");
        await watcher.NextAsync();
        var promptId = await emulator.QueueAsync(Workflows.ProgressImageSave(steps: 1000, delayMs: 20, seed: 9));
        await watcher.UntilAsync(f => f.Type == "progress" && f.PromptId == promptId);

        await emulator.PostJsonAsync("/interrupt", new JsonObject());
        var frames = await watcher.UntilAsync(f => f.Type == "execution_interrupted");
        await watcher.UntilAsync(f => f.Type == "status" && f.Data["status"]!["exec_info"]!["queue_remaining"]!.GetValue<int>() == 0);
        Assert.All(frames, f => Assert.Contains(f.Type, new[] { "status", "progress", "progress_state", "execution_interrupted" }));
        Assert.Empty((await emulator.GetJsonAsync("/history/" + promptId))[promptId]!["outputs"]!.AsObject());
    }
}
