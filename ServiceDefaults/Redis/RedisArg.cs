using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace DirectorsConsole.ServiceDefaults.Redis;

/// <summary>One argument of a command. Every argument goes over the wire as a RESP bulk string;
/// numbers are written in their invariant text form, as Redis expects.</summary>
public readonly struct RedisArg
{
    private enum ArgKind : byte { Text, Bytes, Integer, Double }

    private readonly string? _text;
    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly long _integer;
    private readonly double _double;
    private readonly ArgKind _kind;

    private RedisArg(string? text, ReadOnlyMemory<byte> bytes, long integer, double number, ArgKind kind)
    {
        _text = text;
        _bytes = bytes;
        _integer = integer;
        _double = number;
        _kind = kind;
    }

    public static implicit operator RedisArg(string value) =>
        new(value ?? throw new ArgumentNullException(nameof(value)), default, 0, 0, ArgKind.Text);

    public static implicit operator RedisArg(long value) => new(null, default, value, 0, ArgKind.Integer);

    public static implicit operator RedisArg(int value) => new(null, default, value, 0, ArgKind.Integer);

    public static implicit operator RedisArg(double value) => new(null, default, 0, value, ArgKind.Double);

    public static implicit operator RedisArg(byte[] value) =>
        new(null, value ?? throw new ArgumentNullException(nameof(value)), 0, 0, ArgKind.Bytes);

    public static implicit operator RedisArg(ReadOnlyMemory<byte> value) => new(null, value, 0, 0, ArgKind.Bytes);

    /// <summary>Writes the argument as a RESP bulk string: <c>$len\r\n…\r\n</c>.</summary>
    internal void WriteTo(IBufferWriter<byte> writer)
    {
        switch (_kind)
        {
            case ArgKind.Text:
                var text = _text ?? string.Empty;
                RespWriter.WriteLength(writer, (byte)'$', Encoding.UTF8.GetByteCount(text));
                Encoding.UTF8.GetBytes(text, writer);
                break;
            case ArgKind.Bytes:
                RespWriter.WriteLength(writer, (byte)'$', _bytes.Length);
                writer.Write(_bytes.Span);
                break;
            case ArgKind.Integer:
                Span<byte> digits = stackalloc byte[24];
                Utf8Formatter.TryFormat(_integer, digits, out var written);
                RespWriter.WriteLength(writer, (byte)'$', written);
                writer.Write(digits[..written]);
                break;
            case ArgKind.Double:
                var formatted = FormatDouble(_double);
                RespWriter.WriteLength(writer, (byte)'$', formatted.Length);
                Encoding.ASCII.GetBytes(formatted, writer);
                break;
        }

        RespWriter.WriteCrlf(writer);
    }

    /// <summary>The argument as text (bytes decoded as UTF-8), used for span names and error messages.</summary>
    public override string ToString() => _kind switch
    {
        ArgKind.Text => _text ?? string.Empty,
        ArgKind.Bytes => Encoding.UTF8.GetString(_bytes.Span),
        ArgKind.Integer => _integer.ToString(CultureInfo.InvariantCulture),
        _ => FormatDouble(_double),
    };

    // Redis reads "+inf"/"-inf" for infinite scores; "R" keeps the value exact on the round trip.
    private static string FormatDouble(double value) => value switch
    {
        double.PositiveInfinity => "+inf",
        double.NegativeInfinity => "-inf",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };
}
