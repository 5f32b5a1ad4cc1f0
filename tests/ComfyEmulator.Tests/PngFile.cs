using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>What a test needs to know about a PNG: its chunks, size, tEXt entries and the first pixel.</summary>
public sealed record PngFile(IReadOnlyList<string> Chunks, int Width, int Height, IReadOnlyDictionary<string, string> Text, (byte R, byte G, byte B) FirstPixel)
{
    public static PngFile Parse(ReadOnlySpan<byte> png)
    {
        Assert.True(png[..8].SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "not a PNG signature");
        var chunks = new List<string>();
        var text = new Dictionary<string, string>();
        using var idat = new MemoryStream();
        int width = 0, height = 0;
        for (var offset = 8; offset < png.Length;)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(png[offset..]);
            var type = Encoding.ASCII.GetString(png.Slice(offset + 4, 4));
            var data = png.Slice(offset + 8, length);
            var crc = BinaryPrimitives.ReadUInt32BigEndian(png[(offset + 8 + length)..]);
            Assert.Equal(Crc(png.Slice(offset + 4, 4 + length)), crc);
            chunks.Add(type);
            switch (type)
            {
                case "IHDR":
                    width = BinaryPrimitives.ReadInt32BigEndian(data);
                    height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                    break;
                case "tEXt":
                    var separator = data.IndexOf((byte)0);
                    text[Encoding.Latin1.GetString(data[..separator])] = Encoding.Latin1.GetString(data[(separator + 1)..]);
                    break;
                case "IDAT":
                    idat.Write(data);
                    break;
            }
            offset += 12 + length;
        }
        idat.Position = 0;
        using var zlib = new ZLibStream(idat, CompressionMode.Decompress);
        var firstRow = new byte[4];
        zlib.ReadExactly(firstRow);
        // Whatever the row filter, the first pixel of the first row is stored as is.
        return new PngFile(chunks, width, height, text, (firstRow[1], firstRow[2], firstRow[3]));
    }

    /// <summary>An independent CRC-32 (bitwise) to check the emulator's table-driven one.</summary>
    private static uint Crc(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
