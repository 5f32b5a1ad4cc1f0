using StackExchange.Redis;

namespace DirectorsConsole.Messaging;

/// <summary>One argument of a command: text, a number or bytes, sent as StackExchange.Redis sends a
/// <see cref="RedisValue"/> (numbers in their invariant text form, infinite scores as <c>+inf</c>/<c>-inf</c>).</summary>
public readonly struct RedisArg
{
    private RedisArg(RedisValue value) => Value = value;

    public RedisValue Value { get; }

    public static implicit operator RedisArg(string value) => new(value ?? throw new ArgumentNullException(nameof(value)));

    public static implicit operator RedisArg(long value) => new(value);

    public static implicit operator RedisArg(int value) => new(value);

    public static implicit operator RedisArg(double value) => new(value);

    public static implicit operator RedisArg(byte[] value) => new(value ?? throw new ArgumentNullException(nameof(value)));

    public static implicit operator RedisArg(ReadOnlyMemory<byte> value) => new(value);

    /// <summary>The argument as text (bytes decoded as UTF-8), used for command names and error messages.</summary>
    public override string ToString() => Value.ToString();
}
