using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace DirectorsConsole.GalleryService.Paths;

/// <summary>
/// Reads the text chunks of a PNG (tEXt, zTXt and iTXt, compressed or not), where ComfyUI stores <c>prompt</c>
/// and <c>workflow</c> and A1111 stores <c>parameters</c>. Only the chunks before the first IDAT are read, where
/// encoders put their metadata, so a 100 MB render costs a few kilobytes of I/O. Chunk and decompressed sizes
/// are capped so a crafted file cannot exhaust memory.
/// </summary>
public static class PngMetadataReader
{
    /// <summary>The largest text chunk read; bigger ones are skipped.</summary>
    public const int MaxChunkBytes = 32 * 1024 * 1024;

    /// <summary>The most one compressed chunk may inflate to.</summary>
    public const int MaxInflatedBytes = 64 * 1024 * 1024;

    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Keyword → text. A keyword that appears twice keeps its last value (as PIL's <c>img.info</c>).
    /// Throws <see cref="InvalidDataException"/> when the stream is not a PNG or a text chunk is damaged.</summary>
    public static IReadOnlyDictionary<string, string> Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        Span<byte> header = stackalloc byte[8];
        if (!TryReadExactly(stream, header) || !header.SequenceEqual(Signature))
        {
            throw new InvalidDataException("The file is not a PNG (its signature is missing).");
        }

        while (TryReadExactly(stream, header))
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(header);
            var type = Encoding.ASCII.GetString(header[4..]);
            if (type is "IDAT" or "IEND")
            {
                break;
            }

            if (type is "tEXt" or "zTXt" or "iTXt" && length <= MaxChunkBytes)
            {
                var data = new byte[length];
                if (!TryReadExactly(stream, data))
                {
                    throw new InvalidDataException($"The {type} chunk is cut short.");
                }

                if (Parse(type, data) is var (keyword, text))
                {
                    result[keyword] = text;
                }
            }
            else if (!Skip(stream, length))
            {
                break;
            }

            // The CRC.
            if (!Skip(stream, 4))
            {
                break;
            }
        }

        return result;
    }

    /// <summary><see cref="Read(Stream)"/> on a file, opened for reading only.</summary>
    public static IReadOnlyDictionary<string, string> Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 16 * 1024);
        return Read(stream);
    }

    private static (string Keyword, string Text)? Parse(string type, byte[] data)
    {
        var end = Array.IndexOf(data, (byte)0);
        if (end <= 0)
        {
            return null;
        }

        var keyword = Encoding.Latin1.GetString(data, 0, end);
        var rest = data.AsSpan(end + 1);
        switch (type)
        {
            case "tEXt":
                return (keyword, Encoding.Latin1.GetString(rest));
            case "zTXt":
                return rest.Length < 1 || rest[0] != 0 ? null : (keyword, Encoding.Latin1.GetString(Inflate(rest[1..])));
            default:
                // iTXt: compression flag, method, language tag\0, translated keyword\0, UTF-8 text.
                if (rest.Length < 2)
                {
                    return null;
                }

                var compressed = rest[0] == 1;
                var afterFlags = rest[2..];
                var languageEnd = afterFlags.IndexOf((byte)0);
                if (languageEnd < 0)
                {
                    return null;
                }

                var afterLanguage = afterFlags[(languageEnd + 1)..];
                var translatedEnd = afterLanguage.IndexOf((byte)0);
                if (translatedEnd < 0)
                {
                    return null;
                }

                var text = afterLanguage[(translatedEnd + 1)..];
                return (keyword, Encoding.UTF8.GetString(compressed ? Inflate(text) : text));
        }
    }

    private static byte[] Inflate(ReadOnlySpan<byte> compressed)
    {
        try
        {
            using var input = new MemoryStream(compressed.ToArray());
            using var zlib = new ZLibStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream();
            var buffer = new byte[81920];
            int read;
            while ((read = zlib.Read(buffer)) > 0)
            {
                if (output.Length + read > MaxInflatedBytes)
                {
                    throw new InvalidDataException($"A compressed text chunk inflates to more than {MaxInflatedBytes} bytes.");
                }

                output.Write(buffer, 0, read);
            }

            return output.ToArray();
        }
        catch (InvalidDataException)
        {
            throw;
        }
        catch (IOException ex)
        {
            throw new InvalidDataException("A compressed text chunk is damaged.", ex);
        }
    }

    private static bool TryReadExactly(Stream stream, Span<byte> buffer) =>
        stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false) == buffer.Length;

    private static bool Skip(Stream stream, long count)
    {
        if (stream.CanSeek)
        {
            if (stream.Position + count > stream.Length)
            {
                return false;
            }

            stream.Seek(count, SeekOrigin.Current);
            return true;
        }

        var buffer = new byte[Math.Min(count, 81920)];
        while (count > 0)
        {
            var read = stream.Read(buffer, 0, (int)Math.Min(count, buffer.Length));
            if (read == 0)
            {
                return false;
            }

            count -= read;
        }

        return true;
    }
}
