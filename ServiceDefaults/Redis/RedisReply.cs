using System.Globalization;
using System.Text;

namespace DirectorsConsole.ServiceDefaults.Redis;

/// <summary>The RESP2 and RESP3 reply types.</summary>
public enum RedisReplyKind
{
    SimpleString,
    Error,
    Integer,
    BulkString,
    Array,
    Null,
    Map,
    Set,
    Double,
    Boolean,
    BigNumber,
    VerbatimString,
    Push,
    Attribute,
}

/// <summary>One reply from the server. Conversions throw <see cref="InvalidCastException"/> naming the
/// actual kind when the reply cannot be read as the requested type.</summary>
public sealed class RedisReply
{
    private static readonly RedisReply[] NoItems = [];

    private readonly byte[]? _bytes;
    private readonly long _integer;
    private readonly double _double;
    private readonly RedisReply[]? _items;

    private RedisReply(RedisReplyKind kind, byte[]? bytes = null, long integer = 0, double number = 0, RedisReply[]? items = null)
    {
        Kind = kind;
        _bytes = bytes;
        _integer = integer;
        _double = number;
        _items = items;
    }

    public static RedisReply Null { get; } = new(RedisReplyKind.Null);

    public RedisReplyKind Kind { get; }

    public bool IsNull => Kind == RedisReplyKind.Null;

    /// <summary>RESP3 attributes (kind <see cref="RedisReplyKind.Attribute"/>) the server sent ahead of this
    /// reply, or null.</summary>
    public RedisReply? Attributes { get; private init; }

    /// <summary>The format of a verbatim string (<c>txt</c>, <c>mkd</c>), or null for other kinds.</summary>
    public string? VerbatimFormat => Kind == RedisReplyKind.VerbatimString ? Encoding.ASCII.GetString(_bytes!, 0, 3) : null;

    /// <summary>The elements of an array, set or push; for a map or attribute, keys and values alternating.</summary>
    public IReadOnlyList<RedisReply> Items => _items ?? throw CannotConvert("a list of items");

    internal static RedisReply SimpleString(byte[] text) => new(RedisReplyKind.SimpleString, text);

    internal static RedisReply Error(byte[] text) => new(RedisReplyKind.Error, text);

    internal static RedisReply BulkString(byte[] bytes) => new(RedisReplyKind.BulkString, bytes);

    internal static RedisReply Verbatim(byte[] bytes) => new(RedisReplyKind.VerbatimString, bytes);

    internal static RedisReply BigNumber(byte[] digits) => new(RedisReplyKind.BigNumber, digits);

    internal static RedisReply Integer(long value) => new(RedisReplyKind.Integer, integer: value);

    internal static RedisReply Double(double value) => new(RedisReplyKind.Double, number: value);

    internal static RedisReply Boolean(bool value) => new(RedisReplyKind.Boolean, integer: value ? 1 : 0);

    internal static RedisReply Aggregate(RedisReplyKind kind, RedisReply[] items) =>
        new(kind, items: items.Length == 0 ? NoItems : items);

    internal RedisReply WithAttributes(RedisReply attributes) =>
        new(Kind, _bytes, _integer, _double, _items) { Attributes = attributes };

    /// <summary>The reply as text: strings and errors decoded as UTF-8 (a verbatim string without its
    /// format prefix), numbers in invariant form, null for a null reply.</summary>
    public string? AsString() => Kind switch
    {
        RedisReplyKind.Null => null,
        RedisReplyKind.SimpleString or RedisReplyKind.Error or RedisReplyKind.BulkString or RedisReplyKind.BigNumber
            => Encoding.UTF8.GetString(_bytes!),
        RedisReplyKind.VerbatimString => Encoding.UTF8.GetString(_bytes!, 4, _bytes!.Length - 4),
        RedisReplyKind.Integer => _integer.ToString(CultureInfo.InvariantCulture),
        RedisReplyKind.Double => _double.ToString("R", CultureInfo.InvariantCulture),
        RedisReplyKind.Boolean => _integer != 0 ? "true" : "false",
        _ => throw CannotConvert("a string"),
    };

    /// <summary>The raw bytes of a string reply, or null for a null reply.</summary>
    public byte[]? AsBytes() => Kind switch
    {
        RedisReplyKind.Null => null,
        RedisReplyKind.VerbatimString => _bytes![4..],
        RedisReplyKind.SimpleString or RedisReplyKind.Error or RedisReplyKind.BulkString or RedisReplyKind.BigNumber
            => _bytes,
        RedisReplyKind.Integer or RedisReplyKind.Double or RedisReplyKind.Boolean => Encoding.UTF8.GetBytes(AsString()!),
        _ => throw CannotConvert("bytes"),
    };

    public long AsInt64()
    {
        switch (Kind)
        {
            case RedisReplyKind.Integer:
            case RedisReplyKind.Boolean:
                return _integer;
            case RedisReplyKind.Double when _double == Math.Floor(_double) && _double is >= long.MinValue and <= long.MaxValue:
                return (long)_double;
            case RedisReplyKind.SimpleString or RedisReplyKind.BulkString or RedisReplyKind.BigNumber
                when long.TryParse(_bytes, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed):
                return parsed;
            default:
                throw CannotConvert("an Int64");
        }
    }

    public double AsDouble()
    {
        switch (Kind)
        {
            case RedisReplyKind.Double:
                return _double;
            case RedisReplyKind.Integer:
                return _integer;
            case RedisReplyKind.SimpleString or RedisReplyKind.BulkString or RedisReplyKind.BigNumber
                when RespParser.TryParseDouble(_bytes, out var parsed):
                return parsed;
            default:
                throw CannotConvert("a Double");
        }
    }

    /// <summary>A RESP3 boolean, an integer (non-zero is true) or a string "1"/"0"/"true"/"false".</summary>
    public bool AsBoolean() => Kind switch
    {
        RedisReplyKind.Boolean or RedisReplyKind.Integer => _integer != 0,
        RedisReplyKind.SimpleString or RedisReplyKind.BulkString => AsString() switch
        {
            "1" or "true" => true,
            "0" or "false" => false,
            _ => throw CannotConvert("a Boolean"),
        },
        _ => throw CannotConvert("a Boolean"),
    };

    public override string ToString() => Kind switch
    {
        RedisReplyKind.Array or RedisReplyKind.Set or RedisReplyKind.Push or RedisReplyKind.Map or RedisReplyKind.Attribute
            => $"{Kind}[{_items!.Length}]",
        RedisReplyKind.Null => "Null",
        _ => $"{Kind}: {AsString()}",
    };

    private InvalidCastException CannotConvert(string target) =>
        new($"A Redis reply of kind {Kind} cannot be read as {target}" +
            (Kind == RedisReplyKind.Error ? $" (the server answered with an error: {AsString()})." : "."));
}
