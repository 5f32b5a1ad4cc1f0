using System.Buffers.Binary;

namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>Width and height from the first bytes of PNG, JPEG, WebP, GIF and BMP files, without decoding pixels.</summary>
public static class ImageDimensions
{
    /// <summary>JPEG segments (EXIF, ICC profiles…) before the frame header are skipped, up to this far in.</summary>
    private const long MaxJpegScan = 4 * 1024 * 1024;

    public static (int Width, int Height)? TryRead(Stream stream)
    {
        Span<byte> head = stackalloc byte[32];
        var read = ReadAtLeast(stream, head);
        if (read < 10)
        {
            return null;
        }

        head = head[..read];
        if (read >= 24 && head[..8].SequenceEqual((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]))
        {
            return Checked(BinaryPrimitives.ReadInt32BigEndian(head[16..]), BinaryPrimitives.ReadInt32BigEndian(head[20..]));
        }

        if (head[..3].SequenceEqual("GIF"u8))
        {
            return Checked(BinaryPrimitives.ReadUInt16LittleEndian(head[6..]), BinaryPrimitives.ReadUInt16LittleEndian(head[8..]));
        }

        if (read >= 26 && head[..2].SequenceEqual("BM"u8))
        {
            return Checked(BinaryPrimitives.ReadInt32LittleEndian(head[18..]), Math.Abs(BinaryPrimitives.ReadInt32LittleEndian(head[22..])));
        }

        if (read >= 30 && head[..4].SequenceEqual("RIFF"u8) && head[8..12].SequenceEqual("WEBP"u8))
        {
            return WebP(head);
        }

        if (head[0] == 0xFF && head[1] == 0xD8 && stream.CanSeek)
        {
            return Jpeg(stream);
        }

        return null;
    }

    private static (int, int)? WebP(ReadOnlySpan<byte> head)
    {
        var chunk = head[12..16];
        if (chunk.SequenceEqual("VP8X"u8))
        {
            // 24-bit canvas width-1 and height-1 after 4 flag bytes.
            var width = 1 + (head[24] | head[25] << 8 | head[26] << 16);
            var height = 1 + (head[27] | head[28] << 8 | head[29] << 16);
            return Checked(width, height);
        }

        if (chunk.SequenceEqual("VP8L"u8) && head[20] == 0x2F)
        {
            var bits = BinaryPrimitives.ReadUInt32LittleEndian(head[21..]);
            return Checked((int)(bits & 0x3FFF) + 1, (int)((bits >> 14) & 0x3FFF) + 1);
        }

        if (chunk.SequenceEqual("VP8 "u8) && head[23] == 0x9D && head[24] == 0x01 && head[25] == 0x2A)
        {
            return Checked(BinaryPrimitives.ReadUInt16LittleEndian(head[26..]) & 0x3FFF, BinaryPrimitives.ReadUInt16LittleEndian(head[28..]) & 0x3FFF);
        }

        return null;
    }

    private static (int, int)? Jpeg(Stream stream)
    {
        Span<byte> marker = stackalloc byte[9];
        stream.Position = 2;
        while (stream.Position < MaxJpegScan)
        {
            if (ReadAtLeast(stream, marker[..4]) < 4 || marker[0] != 0xFF)
            {
                return null;
            }

            var type = marker[1];
            if (type == 0xFF)
            {
                // Fill bytes before a marker.
                stream.Position -= 3;
                continue;
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(marker[2..]);
            var isFrameHeader = type is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC;
            if (isFrameHeader)
            {
                if (ReadAtLeast(stream, marker[..5]) < 5)
                {
                    return null;
                }

                return Checked(BinaryPrimitives.ReadUInt16BigEndian(marker[3..]), BinaryPrimitives.ReadUInt16BigEndian(marker[1..]));
            }

            if (length < 2 || type == 0xDA)
            {
                return null;
            }

            stream.Position += length - 2;
        }

        return null;
    }

    private static (int, int)? Checked(int width, int height) => width > 0 && height > 0 ? (width, height) : null;

    private static int ReadAtLeast(Stream stream, Span<byte> buffer) => stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
}
