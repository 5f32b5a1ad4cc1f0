using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;

namespace DirectorsConsole.ComfyEmulator.Imaging;

public readonly record struct Rgb(byte R, byte G, byte B)
{
    /// <summary>ComfyUI's EmptyImage colour: an int 0xRRGGBB.</summary>
    public static Rgb FromInt(long colour) => new((byte)(colour >> 16), (byte)(colour >> 8), (byte)colour);
}

/// <summary>
/// Writes 8-bit RGB PNGs of one solid colour, the way Pillow lays them out for ComfyUI:
/// IHDR, one tEXt chunk per metadata entry (in order), IDAT, IEND.
/// </summary>
public static class PngEncoder
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static byte[] EncodeSolid(int width, int height, Rgb colour, IEnumerable<KeyValuePair<string, string>> text, CompressionLevel level)
    {
        using var png = new MemoryStream();
        png.Write(Signature);

        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;  // bit depth
        header[9] = 2;  // colour type: truecolour
        WriteChunk(png, "IHDR", header);

        foreach (var (key, value) in text)
        {
            // tEXt is Latin-1; ComfyUI's json.dumps output is pure ASCII, so nothing is lost.
            WriteChunk(png, "tEXt", [.. Encoding.Latin1.GetBytes(key), 0, .. Encoding.Latin1.GetBytes(value)]);
        }

        WriteChunk(png, "IDAT", CompressPixels(width, height, colour, level));
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    private static byte[] CompressPixels(int width, int height, Rgb colour, CompressionLevel level)
    {
        var row = new byte[1 + width * 3];  // filter byte 0 (None), then RGB triples
        for (var x = 0; x < width; x++)
        {
            row[1 + x * 3] = colour.R;
            row[2 + x * 3] = colour.G;
            row[3 + x * 3] = colour.B;
        }
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, level, leaveOpen: true))
        {
            for (var y = 0; y < height; y++) zlib.Write(row);
        }
        return compressed.ToArray();
    }

    private static void WriteChunk(Stream png, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        png.Write(length);
        var typeAndData = new byte[4 + data.Length];
        Encoding.ASCII.GetBytes(type, typeAndData);
        data.CopyTo(typeAndData.AsSpan(4));
        png.Write(typeAndData);
        Span<byte> crc = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32.HashToUInt32(typeAndData));
        png.Write(crc);
    }
}
