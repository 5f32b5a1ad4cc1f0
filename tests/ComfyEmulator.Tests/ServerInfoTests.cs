using System.Net;
using System.Text.Json;

namespace DirectorsConsole.ComfyEmulator.Tests;

public sealed class ServerInfoTests
{
    [Fact]
    public async Task FullObjectInfoListsEveryEmulatedNodeAndTheRecordedServerHasThemToo()
    {
        var transcript = Transcript.Load("server_info");
        var recordedNames = transcript.HttpExchanges()
            .Single(x => x.Request.GetProperty("path").GetString() == "/object_info")
            .Response.GetProperty("body_summary").GetProperty("node_names").EnumerateArray().Select(n => n.GetString()).ToHashSet();
        await using var emulator = await EmulatorInstance.StartAsync();
        using var doc = JsonDocument.Parse(await emulator.Http.GetStringAsync("/object_info", TestContext.Current.CancellationToken));

        var emulated = doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        foreach (var node in new[] { "EmptyImage", "EmptyLatentImage", "SaveImage", "PreviewImage", "CheckpointLoaderSimple", "CLIPTextEncode",
            "KSampler", "KSamplerAdvanced", "VAEDecode", "SaveImageWebsocket", "UNETLoader", "LoraLoader", "VAELoader", "TestProgressImage", "TestProgressInfo" })
        {
            Assert.Contains(node, emulated);
            Assert.Equal(node, doc.RootElement.GetProperty(node).GetProperty("name").GetString());
        }
        // The test_progress nodes are a custom package, absent from the recorded core list only if it failed to load.
        Assert.All(emulated, name => Assert.Contains(name, recordedNames));
    }

    [Fact]
    public async Task ModelLoadersListTheConfiguredFakeModelFilesSorted()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--checkpoints", "sd_xl_base_1.0.safetensors,SDXL/juggernaut.safetensors,flux1-dev.safetensors", "--vaes", "ae.safetensors");
        var info = await emulator.GetJsonAsync("/object_info/CheckpointLoaderSimple");
        var checkpoints = info["CheckpointLoaderSimple"]!["input"]!["required"]!["ckpt_name"]![0]!.AsArray().Select(n => n!.GetValue<string>());
        Assert.Equal(["SDXL/juggernaut.safetensors", "flux1-dev.safetensors", "sd_xl_base_1.0.safetensors"], checkpoints);

        var vaes = (await emulator.GetJsonAsync("/object_info/VAELoader"))["VAELoader"]!["input"]!["required"]!["vae_name"]![0]!.AsArray().Select(n => n!.GetValue<string>());
        Assert.Equal(["ae.safetensors", "pixel_space"], vaes);
        foreach (var (node, input) in new[] { ("UNETLoader", "unet_name"), ("LoraLoader", "lora_name") })
        {
            var options = (await emulator.GetJsonAsync("/object_info/" + node))[node]!["input"]!["required"]![input]![0]!.AsArray();
            Assert.NotEmpty(options);
        }
        var files = (await emulator.GetJsonAsync("/models/checkpoints")).AsArray().Select(n => n!.GetValue<string>());
        Assert.Equal(checkpoints, files);
    }

    [Fact]
    public async Task SystemStatsReportsTheConfiguredGpuVramAndOs()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--gpu-name", "NVIDIA GeForce RTX 4090", "--vram-gb", "24", "--os", "nt");
        using var doc = JsonDocument.Parse(await emulator.Http.GetStringAsync("/api/system_stats", TestContext.Current.CancellationToken));

        Assert.Equal("nt", doc.RootElement.GetProperty("system").GetProperty("os").GetString());
        var device = doc.RootElement.GetProperty("devices")[0];
        Assert.Contains("NVIDIA GeForce RTX 4090", device.GetProperty("name").GetString());
        Assert.Equal("cuda", device.GetProperty("type").GetString());
        Assert.Equal(24L << 30, device.GetProperty("vram_total").GetInt64());
        Assert.True(device.GetProperty("vram_free").GetInt64() <= device.GetProperty("vram_total").GetInt64());
        Assert.Equal(emulator.BaseAddress.Port.ToString(), doc.RootElement.GetProperty("system").GetProperty("argv").EnumerateArray().Last().GetString());
    }

    [Fact]
    public async Task UnknownRoutesAreComfyUisTextNotFoundAndTheControlApiIsNotUnderApi()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        foreach (var path in new[] { "/api/jobs", "/api/_emulator/config", "/nothing" })
        {
            using var response = await emulator.Http.GetAsync(path, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("404: Not Found", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }
    }
}
