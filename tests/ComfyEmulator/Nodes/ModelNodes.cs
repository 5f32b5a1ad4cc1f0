using DirectorsConsole.ComfyEmulator.Imaging;

namespace DirectorsConsole.ComfyEmulator.Nodes;

/// <summary>
/// The model pipeline without a model: loaders hand out named handles, the samplers only take time and report
/// progress per step, and the seed decides the colour VAEDecode paints. Enough for a client to build, queue,
/// cancel and collect a real txt2img workflow.
/// </summary>
public sealed class CheckpointLoaderSimpleNode : IEmulatedNode
{
    public string ClassType => "CheckpointLoaderSimple";

    public Task<NodeOutput> ExecuteAsync(NodeInvocation invocation)
    {
        var name = invocation.Text("ckpt_name", "");
        return Task.FromResult(new NodeOutput([new ModelHandle(name, []), new ClipHandle(name), new VaeHandle(name)]));
    }
}

public sealed class UnetLoaderNode : IEmulatedNode
{
    public string ClassType => "UNETLoader";

    public Task<NodeOutput> ExecuteAsync(NodeInvocation invocation) =>
        Task.FromResult(new NodeOutput([new ModelHandle(invocation.Text("unet_name", ""), [])]));
}

public sealed class LoraLoaderNode : IEmulatedNode
{
    public string ClassType => "LoraLoader";

    public Task<NodeOutput> ExecuteAsync(NodeInvocation invocation)
    {
        var model = invocation.Linked<ModelHandle>("model");
        var clip = invocation.Linked<ClipHandle>("clip");
        return Task.FromResult(new NodeOutput([model with { Loras = [.. model.Loras, invocation.Text("lora_name", "")] }, clip]));
    }
}

public sealed class VaeLoaderNode : IEmulatedNode
{
    public string ClassType => "VAELoader";

    public Task<NodeOutput> ExecuteAsync(NodeInvocation invocation) =>
        Task.FromResult(new NodeOutput([new VaeHandle(invocation.Text("vae_name", ""))]));
}

public sealed class ClipTextEncodeNode : IEmulatedNode
{
    public string ClassType => "CLIPTextEncode";

    public Task<NodeOutput> ExecuteAsync(NodeInvocation invocation)
    {
        invocation.Linked<ClipHandle>("clip");
        return Task.FromResult(new NodeOutput([new Conditioning(invocation.Text("text", ""))]));
    }
}

public sealed class EmptyLatentImageNode : IEmulatedNode
{
    public string ClassType => "EmptyLatentImage";

    public Task<NodeOutput> ExecuteAsync(NodeInvocation invocation) =>
        Task.FromResult(new NodeOutput([new LatentBatch((int)invocation.Int("width", 512), (int)invocation.Int("height", 512),
            (int)invocation.Int("batch_size", 1), Colour: null)]));
}

public sealed class KSamplerNode : IEmulatedNode
{
    public string ClassType => "KSampler";

    public async Task<NodeOutput> ExecuteAsync(NodeInvocation invocation)
    {
        invocation.Linked<ModelHandle>("model");
        var latent = invocation.Linked<LatentBatch>("latent_image");
        var steps = invocation.Int("steps", 20);
        await Sampling.RunStepsAsync(invocation, steps);
        return new NodeOutput([latent with { Colour = SeedColour.For(invocation.Seed("seed")) }]);
    }
}

public sealed class KSamplerAdvancedNode : IEmulatedNode
{
    public string ClassType => "KSamplerAdvanced";

    public async Task<NodeOutput> ExecuteAsync(NodeInvocation invocation)
    {
        invocation.Linked<ModelHandle>("model");
        var latent = invocation.Linked<LatentBatch>("latent_image");
        var steps = invocation.Int("steps", 20);
        // The sigmas are cut to [start_at_step, end_at_step], so the progress bar counts only those steps.
        var sampled = Math.Max(Math.Min(invocation.Int("end_at_step", 10000), steps) - invocation.Int("start_at_step", 0), 0);
        await Sampling.RunStepsAsync(invocation, sampled);
        return new NodeOutput([latent with { Colour = SeedColour.For(invocation.Seed("noise_seed")) }]);
    }
}

public sealed class VaeDecodeNode : IEmulatedNode
{
    /// <summary>What decoding an all-zero latent gives: a flat mid grey.</summary>
    private static readonly Rgb Unsampled = new(128, 128, 128);

    public string ClassType => "VAEDecode";

    public Task<NodeOutput> ExecuteAsync(NodeInvocation invocation)
    {
        invocation.Linked<VaeHandle>("vae");
        var latent = invocation.Linked<LatentBatch>("samples");
        var images = new ImageBatch(latent.Width / 8 * 8, latent.Height / 8 * 8, [.. Enumerable.Repeat(latent.Colour ?? Unsampled, latent.BatchSize)]);
        return Task.FromResult(new NodeOutput([images]));
    }
}

internal static class Sampling
{
    /// <summary>One <c>--step-delay-ms</c> wait and one progress update per step, as the sampler callback reports them.</summary>
    public static async Task RunStepsAsync(NodeInvocation invocation, long steps)
    {
        for (var step = 0L; step < steps; step++)
        {
            await invocation.SleepAsync(TimeSpan.FromMilliseconds(invocation.Services.Knobs.Current.StepDelayMs));
            await invocation.ReportProgressAsync(step + 1, steps);
        }
    }
}
