using System.Globalization;
using DirectorsConsole.ComfyEmulator.Imaging;

namespace DirectorsConsole.ComfyEmulator.Nodes;

/// <summary>
/// An IMAGE: a batch of solid-colour images. <see cref="ToString"/> is what ComfyUI's error report shows for a
/// tensor input (<c>str(tensor)</c>), abbreviated.
/// </summary>
public sealed record ImageBatch(int Width, int Height, IReadOnlyList<Rgb> Colours)
{
    public override string ToString()
    {
        var c = Colours[0];
        string F(byte v) => (v / 255.0).ToString("0.0000", CultureInfo.InvariantCulture);
        return $"tensor([[[[{F(c.R)}, {F(c.G)}, {F(c.B)}],\n          ...]]])";
    }
}

/// <summary>A LATENT: its size in pixels and, once sampled, the colour the sampler settled on per image.</summary>
public sealed record LatentBatch(int Width, int Height, int BatchSize, Rgb? Colour)
{
    public override string ToString() => $"{{'samples': tensor(<{BatchSize}x4x{Height / 8}x{Width / 8}>)}}";
}

public sealed record ModelHandle(string Name, IReadOnlyList<string> Loras)
{
    public override string ToString() => $"<comfy.model_patcher.ModelPatcher object ({Name})>";
}

public sealed record ClipHandle(string Name)
{
    public override string ToString() => $"<comfy.sd.CLIP object ({Name})>";
}

public sealed record VaeHandle(string Name)
{
    public override string ToString() => $"<comfy.sd.VAE object ({Name})>";
}

public sealed record Conditioning(string Text)
{
    public override string ToString() => $"[[tensor(<1x77x768>), {{'pooled_output': tensor(<1x768>)}}]]";
}
