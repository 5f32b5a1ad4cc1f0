using System.Globalization;
using System.Text;
using StackExchange.Redis;

namespace DirectorsConsole.Messaging;

/// <summary>The kinds of reply a caller reads; RESP3 maps and sets arrive as arrays (a map's keys and values
/// alternating), numbers other than integers as strings.</summary>
public enum RedisReplyKind
{
    SimpleString,
    Integer,
    BulkString,
    Array,
    Null,
}

/// <summary>One reply from the server, read from StackExchange.Redis's <see cref="RedisResult"/>. Conversions throw
/// <see cref="InvalidCastException"/> naming the actual kind when the reply cannot be read as the requested type.</summary>
public sealed class RedisReply
{
    private readonly byte[]? _bytes;
    private readonly long _integer;
    private readonly RedisReply[]? _items;

    private RedisReply(RedisReplyKind kind, byte[]? bytes = null, long integer = 0, RedisReply[]? items = null)
    {
        Kind = kind;
        _bytes = bytes;
        _integer = integer;
        _items = items;
    }

    public static RedisReply Null { get; } = new(RedisReplyKind.Null);

    public RedisReplyKind Kind { get; }

    public bool IsNull => Kind == RedisReplyKind.Null;

    /// <summary>The elements of an array (for a RESP3 map, keys and values alternating).</summary>
    public IReadOnlyList<RedisReply> Items => _items ?? throw CannotConvert("a list of items");

    internal static RedisReply From(RedisResult result)
    {
        if (result.IsNull)
        {
            return Null;
        }

        return result.Resp2Type switch
        {
            ResultType.Integer => new RedisReply(RedisReplyKind.Integer, integer: (long)result),
            ResultType.Array => new RedisReply(RedisReplyKind.Array, items: ((RedisResult[])result!).Select(From).ToArray()),
            ResultType.SimpleString => new RedisReply(RedisReplyKind.SimpleString, (byte[])result!),
            _ => new RedisReply(RedisReplyKind.BulkString, (byte[])result!),
        };
    }

    /// <summary>The reply as text: strings decoded as UTF-8, integers in invariant form, null for a null reply.</summary>
    public string? AsString() => Kind switch
    {
        RedisReplyKind.Null => null,
        RedisReplyKind.SimpleString or RedisReplyKind.BulkString => Encoding.UTF8.GetString(_bytes!),
        RedisReplyKind.Integer => _integer.ToString(CultureInfo.InvariantCulture),
        _ => throw CannotConvert("a string"),
    };

    /// <summary>The raw bytes of a string reply, or null for a null reply.</summary>
    public byte[]? AsBytes() => Kind switch
    {
        RedisReplyKind.Null => null,
        RedisReplyKind.SimpleString or RedisReplyKind.BulkString => _bytes,
        RedisReplyKind.Integer => Encoding.UTF8.GetBytes(AsString()!),
        _ => throw CannotConvert("bytes"),
    };

    public long AsInt64() => Kind switch
    {
        RedisReplyKind.Integer => _integer,
        RedisReplyKind.SimpleString or RedisReplyKind.BulkString
            when long.TryParse(_bytes, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed) => parsed,
        _ => throw CannotConvert("an Int64"),
    };

    public override string ToString() => Kind switch
    {
        RedisReplyKind.Array => $"{Kind}[{_items!.Length}]",
        RedisReplyKind.Null => "Null",
        _ => $"{Kind}: {AsString()}",
    };

    private InvalidCastException CannotConvert(string target) => new($"A Redis reply of kind {Kind} cannot be read as {target}.");
}
