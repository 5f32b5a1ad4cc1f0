using System.Buffers.Binary;
using System.IO.Compression;
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
/// System.IO.Hashing is not in this registry, so the chunk CRC-32 is computed here.
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
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32.Compute(typeAndData));
        png.Write(crc);
    }
}

/// <summary>The CRC-32 of PNG and zlib (ISO-HDLC, reflected polynomial 0xEDB88320).</summary>
public static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
