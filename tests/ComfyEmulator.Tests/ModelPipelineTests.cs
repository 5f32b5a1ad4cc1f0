using System.Text.Json.Nodes;

namespace DirectorsConsole.ComfyEmulator.Tests;

public sealed class ModelPipelineTests
{
    [Fact]
    public async Task TextToImageRunsEveryNodeWithSamplerProgressAndPaintsTheSeedColour()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--step-delay-ms", "1");
        await using var socket = await emulator.ConnectAsync("/ws?clientId=t2i");
        await socket.NextAsync();
        var promptId = await emulator.QueueAsync(Workflows.TextToImage("sd_xl_base_1.0.safetensors", steps: 4, seed: 1234), "t2i");
        var frames = await socket.UntilRunOverAsync(promptId);

        // ComfyUI's ExecutionList order: the loader first (it leads to the output), then the rest as they become ready.
        Assert.Equal(["4", "5", "7", "6", "3", "8", "9"], frames.Where(f => f.Type == "executing" && f.Data["node"] is not null).Select(f => f.Data["node"]!.GetValue<string>()));
        var progress = frames.Where(f => f.Type == "progress").Select(f => (f.Data["node"]!.GetValue<string>(), f.Data["value"]!.GetValue<int>(), f.Data["max"]!.GetValue<int>()));
        Assert.Equal([("3", 1, 4), ("3", 2, 4), ("3", 3, 4), ("3", 4, 4)], progress);

        var image = frames.Single(f => f.Type == "executed").Data["output"]!["images"]![0]!;
        var png = PngFile.Parse(await emulator.Http.GetByteArrayAsync($"/view?filename={image["filename"]}&type=output", TestContext.Current.CancellationToken));
        Assert.Equal((64, 48, ((byte)3, (byte)172, (byte)103)), (png.Width, png.Height, png.FirstPixel));
    }

    [Fact]
    public async Task AdvancedSamplerCountsOnlyItsStepRangeAndLoraAndVaeLoadersChain()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--step-delay-ms", "0");
        await using var socket = await emulator.ConnectAsync("/ws?clientId=adv");
        await socket.NextAsync();
        var prompt = Workflows.TextToImage("flux1-dev.safetensors", steps: 10, seed: 7);
        prompt["12"] = Workflows.Node("UNETLoader", new JsonObject { ["unet_name"] = "flux1-dev.safetensors", ["weight_dtype"] = "default" });
        prompt["13"] = Workflows.Node("LoraLoader", new JsonObject
        {
            ["model"] = Workflows.Link("12"), ["clip"] = Workflows.Link("4", 1), ["lora_name"] = "add_detail.safetensors", ["strength_model"] = 0.8, ["strength_clip"] = 1,
        });
        prompt["14"] = Workflows.Node("VAELoader", new JsonObject { ["vae_name"] = "ae.safetensors" });
        prompt["3"] = Workflows.Node("KSamplerAdvanced", new JsonObject
        {
            ["model"] = Workflows.Link("13"), ["add_noise"] = "enable", ["noise_seed"] = 7, ["steps"] = 10, ["cfg"] = 1.0, ["sampler_name"] = "euler",
            ["scheduler"] = "simple", ["positive"] = Workflows.Link("6"), ["negative"] = Workflows.Link("7"), ["latent_image"] = Workflows.Link("5"),
            ["start_at_step"] = 2, ["end_at_step"] = 5, ["return_with_leftover_noise"] = "disable",
        });
        prompt["8"]!["inputs"]!["vae"] = Workflows.Link("14");
        var promptId = await emulator.QueueAsync(prompt, "adv");
        var frames = await socket.UntilRunOverAsync(promptId);

        Assert.Contains(frames, f => f.Type == "execution_success");
        Assert.Equal([1, 2, 3], frames.Where(f => f.Type == "progress").Select(f => f.Data["value"]!.GetValue<int>()));
        Assert.All(frames.Where(f => f.Type == "progress"), f => Assert.Equal(3, f.Data["max"]!.GetValue<int>()));
    }

    [Fact]
    public async Task AnUnknownCheckpointIsRejectedAsValueNotInList()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--checkpoints", "a.safetensors,b.safetensors");
        var (status, body) = await emulator.PostJsonAsync("/prompt", new JsonObject { ["prompt"] = Workflows.TextToImage("missing.safetensors", 2, 1) });

        Assert.Equal(400, status);
        var error = body!["node_errors"]!["4"]!["errors"]![0]!;
        Assert.Equal("value_not_in_list", error["type"]!.GetValue<string>());
        Assert.Equal("ckpt_name: 'missing.safetensors' not in ['a.safetensors', 'b.safetensors']", error["details"]!.GetValue<string>());
    }

    [Fact]
    public async Task AValueAboveMaxIsRejectedAndWidgetValuesAreConvertedAsComfyUiDoes()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--step-delay-ms", "0");
        var tooMany = Workflows.TextToImage("flux1-dev.safetensors", steps: 20000, seed: 1);
        var (status, body) = await emulator.PostJsonAsync("/prompt", new JsonObject { ["prompt"] = tooMany });
        Assert.Equal(400, status);
        Assert.Equal("Value 20000 bigger than max of 10000", body!["node_errors"]!["3"]!["errors"]![0]!["message"]!.GetValue<string>());

        var converted = Workflows.TextToImage("flux1-dev.safetensors", steps: 2, seed: 1);
        converted["3"]!["inputs"]!["steps"] = "2";
        converted["3"]!["inputs"]!["cfg"] = 7;
        var (accepted, queued) = await emulator.PostJsonAsync("/prompt", new JsonObject { ["prompt"] = converted, ["number"] = 5 });
        Assert.Equal(200, accepted);
        var promptId = queued!["prompt_id"]!.GetValue<string>();
        Assert.Equal(5.0, queued["number"]!.GetValue<double>());
        var raw = await emulator.Http.GetStringAsync("/queue", TestContext.Current.CancellationToken) + await emulator.Http.GetStringAsync("/history/" + promptId, TestContext.Current.CancellationToken);
        Assert.Contains("\"steps\": 2, \"cfg\": 7.0", raw);
        Assert.DoesNotContain("\"steps\": \"2\"", raw);
    }
}
