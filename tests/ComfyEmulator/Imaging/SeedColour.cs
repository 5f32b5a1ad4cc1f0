using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace DirectorsConsole.ComfyEmulator.Imaging;

/// <summary>
/// The colour the test_progress custom node paints for a seed: the first three bytes of
/// <c>sha256(str(seed))</c> (seed 1234 gives RGB(3, 172, 103)), so the same workflow gives the same
/// pixels on the emulator and on a real ComfyUI. The emulated samplers use it too.
/// </summary>
public static class SeedColour
{
    public static Rgb For(decimal seed)
    {
        var hash = SHA256.HashData(Encoding.ASCII.GetBytes(seed.ToString(CultureInfo.InvariantCulture)));
        return new Rgb(hash[0], hash[1], hash[2]);
    }
}
