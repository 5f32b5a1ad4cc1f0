using System.Buffers;
using System.Buffers.Text;

namespace DirectorsConsole.ServiceDefaults.Redis;

/// <summary>Encodes commands as RESP arrays of bulk strings, the only request form Redis accepts.</summary>
internal static class RespWriter
{
    public static void WriteCommand(IBufferWriter<byte> writer, IReadOnlyList<RedisArg> command)
    {
        WriteLength(writer, (byte)'*', command.Count);
        for (var i = 0; i < command.Count; i++)
        {
            command[i].WriteTo(writer);
        }
    }

    public static void WriteLength(IBufferWriter<byte> writer, byte prefix, long length)
    {
        var span = writer.GetSpan(24);
        span[0] = prefix;
        Utf8Formatter.TryFormat(length, span[1..], out var written);
        span[written + 1] = (byte)'\r';
        span[written + 2] = (byte)'\n';
        writer.Advance(written + 3);
    }

    public static void WriteCrlf(IBufferWriter<byte> writer)
    {
        var span = writer.GetSpan(2);
        span[0] = (byte)'\r';
        span[1] = (byte)'\n';
        writer.Advance(2);
    }
}
