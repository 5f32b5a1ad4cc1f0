using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;

namespace DirectorsConsole.Testing;

/// <summary>Writes small valid PNGs (1×1, with correct CRCs) carrying the text chunks a test needs (ComfyUI's
/// <c>prompt</c> and <c>workflow</c>, A1111's <c>parameters</c>…).</summary>
public static class TestPng
{
    public static (string Type, byte[] Data) Text(string keyword, string text) =>
        ("tEXt", [.. Encoding.Latin1.GetBytes(keyword), 0, .. Encoding.Latin1.GetBytes(text)]);

    public static (string Type, byte[] Data) CompressedText(string keyword, string text) =>
        ("zTXt", [.. Encoding.Latin1.GetBytes(keyword), 0, 0, .. Deflate(Encoding.Latin1.GetBytes(text))]);

    public static (string Type, byte[] Data) InternationalText(string keyword, string text, bool compressed) =>
        ("iTXt", [.. Encoding.Latin1.GetBytes(keyword), 0, compressed ? (byte)1 : (byte)0, 0, .. "en"u8, 0, .. "translated"u8, 0,
            .. compressed ? Deflate(Encoding.UTF8.GetBytes(text)) : Encoding.UTF8.GetBytes(text)]);

    /// <summary>A PNG with <paramref name="beforeImage"/> before IDAT and <paramref name="afterImage"/> after it.</summary>
    public static byte[] Create(IEnumerable<(string Type, byte[] Data)> beforeImage, IEnumerable<(string Type, byte[] Data)>? afterImage = null)
    {
        using var output = new MemoryStream();
        output.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header, 1);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), 1);
        header[8] = 8; // bit depth
        header[9] = 2; // RGB
        WriteChunk(output, "IHDR", header);
        foreach (var (type, data) in beforeImage)
        {
            WriteChunk(output, type, data);
        }

        WriteChunk(output, "IDAT", Deflate([0, 255, 0, 0]));
        foreach (var (type, data) in afterImage ?? [])
        {
            WriteChunk(output, type, data);
        }

        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    public static byte[] WithPrompt(string prompt) => Create([Text("prompt", prompt)]);

    private static void WriteChunk(Stream output, string type, byte[] data)
    {
        Span<byte> number = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(number, (uint)data.Length);
        output.Write(number);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        output.Write(typeBytes);
        output.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(number, Crc32.HashToUInt32([.. typeBytes, .. data]));
        output.Write(number);
    }

    private static byte[] Deflate(byte[] data)
    {
        using var output = new MemoryStream();
        using (var zlib = new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            zlib.Write(data);
        }

        return output.ToArray();
    }
}
