using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace DirectorsConsole.ServiceDefaults.Redis;

/// <summary>
/// Reads RESP2 and RESP3 replies from a byte sequence. A reply is returned only when it is complete;
/// otherwise nothing is consumed and the caller waits for more bytes. Every length is checked against
/// <see cref="MaxReplyBytes"/> before any data is buffered for it, so a hostile or broken server cannot
/// make the client allocate without bound.
/// </summary>
internal sealed class RespParser(long maxReplyBytes, int maxDepth = RespParser.DefaultMaxDepth)
{
    public const int DefaultMaxDepth = 32;

    // Length and number lines are short; anything longer is not a number.
    private const int MaxNumberLine = 64;

    public long MaxReplyBytes { get; } = maxReplyBytes;

    /// <summary>Reads one complete reply from the start of <paramref name="buffer"/> and slices it off.
    /// Returns false when the reply is not complete yet. Throws <see cref="RedisProtocolException"/> for
    /// malformed or oversized input.</summary>
    public bool TryRead(ref ReadOnlySequence<byte> buffer, out RedisReply reply)
    {
        var reader = new SequenceReader<byte>(buffer);
        var budget = MaxReplyBytes;
        if (!TryReadValue(ref reader, depth: 0, ref budget, out reply!))
        {
            return false;
        }

        buffer = buffer.Slice(reader.Position);
        return true;
    }

    private bool TryReadValue(ref SequenceReader<byte> reader, int depth, ref long budget, out RedisReply? reply)
    {
        reply = null;
        if (!reader.TryRead(out var type))
        {
            return false;
        }

        switch (type)
        {
            case (byte)'+':
                return TryReadTextLine(ref reader, ref budget, RedisReply.SimpleString, out reply);
            case (byte)'-':
                return TryReadTextLine(ref reader, ref budget, RedisReply.Error, out reply);
            case (byte)'(':
                return TryReadTextLine(ref reader, ref budget, ValidateBigNumber, out reply);
            case (byte)':':
                if (!TryReadNumberLine(ref reader, out var integer, "integer"))
                {
                    return false;
                }

                reply = RedisReply.Integer(integer);
                return true;
            case (byte)'_':
                if (!TryReadLine(ref reader, MaxNumberLine, out var empty))
                {
                    return false;
                }

                if (empty.Length != 0)
                {
                    throw new RedisProtocolException("A RESP3 null ('_') must be followed directly by CRLF.");
                }

                reply = RedisReply.Null;
                return true;
            case (byte)',':
                if (!TryReadLine(ref reader, MaxNumberLine, out var doubleLine))
                {
                    return false;
                }

                if (!TryParseDouble(doubleLine.ToArray(), out var number))
                {
                    throw new RedisProtocolException($"'{Encoding.ASCII.GetString(doubleLine)}' is not a RESP3 double.");
                }

                reply = RedisReply.Double(number);
                return true;
            case (byte)'#':
                if (!TryReadLine(ref reader, MaxNumberLine, out var boolLine))
                {
                    return false;
                }

                var flag = boolLine.Length == 1 ? boolLine.ToArray()[0] : (byte)0;
                reply = flag is (byte)'t' or (byte)'f'
                    ? RedisReply.Boolean(flag == (byte)'t')
                    : throw new RedisProtocolException("A RESP3 boolean must be '#t' or '#f'.");
                return true;
            case (byte)'$':
                return TryReadBlob(ref reader, ref budget, allowNull: true, RedisReply.BulkString, out reply);
            case (byte)'!':
                return TryReadBlob(ref reader, ref budget, allowNull: false, RedisReply.Error, out reply);
            case (byte)'=':
                return TryReadBlob(ref reader, ref budget, allowNull: false, ValidateVerbatim, out reply);
            case (byte)'*':
                return TryReadAggregate(ref reader, depth, ref budget, RedisReplyKind.Array, allowNull: true, pairs: false, out reply);
            case (byte)'~':
                return TryReadAggregate(ref reader, depth, ref budget, RedisReplyKind.Set, allowNull: false, pairs: false, out reply);
            case (byte)'>':
                return TryReadAggregate(ref reader, depth, ref budget, RedisReplyKind.Push, allowNull: false, pairs: false, out reply);
            case (byte)'%':
                return TryReadAggregate(ref reader, depth, ref budget, RedisReplyKind.Map, allowNull: false, pairs: true, out reply);
            case (byte)'|':
                // Attributes describe the reply that follows them; they are attached to it rather than
                // returned on their own, so they never take the place of a command's reply.
                if (!TryReadAggregate(ref reader, depth, ref budget, RedisReplyKind.Attribute, allowNull: false, pairs: true, out var attributes)
                    || !TryReadValue(ref reader, depth, ref budget, out var described))
                {
                    return false;
                }

                reply = described!.WithAttributes(attributes!);
                return true;
            default:
                throw new RedisProtocolException($"Unexpected RESP type byte 0x{type:X2} ('{(char)type}').");
        }
    }

    private bool TryReadAggregate(
        ref SequenceReader<byte> reader, int depth, ref long budget, RedisReplyKind kind, bool allowNull, bool pairs, out RedisReply? reply)
    {
        reply = null;
        if (!TryReadLength(ref reader, allowNull, kind.ToString(), out var count))
        {
            return false;
        }

        if (count < 0)
        {
            reply = RedisReply.Null;
            return true;
        }

        if (depth + 1 > maxDepth)
        {
            throw new RedisProtocolException($"The reply is nested more than {maxDepth} levels deep.");
        }

        var elements = pairs ? count * 2 : count;
        // Every element takes at least three bytes, so a count beyond the budget can never fit.
        Charge(ref budget, elements);
        var items = new RedisReply[elements];
        for (var i = 0; i < elements; i++)
        {
            if (!TryReadValue(ref reader, depth + 1, ref budget, out var item))
            {
                return false;
            }

            items[i] = item!;
        }

        reply = RedisReply.Aggregate(kind, items);
        return true;
    }

    private bool TryReadBlob(
        ref SequenceReader<byte> reader, ref long budget, bool allowNull, Func<byte[], RedisReply> create, out RedisReply? reply)
    {
        reply = null;
        if (!TryReadLength(ref reader, allowNull, "bulk string", out var length))
        {
            return false;
        }

        if (length < 0)
        {
            reply = RedisReply.Null;
            return true;
        }

        Charge(ref budget, length);
        if (reader.Remaining < length + 2)
        {
            return false;
        }

        var bytes = new byte[length];
        reader.TryCopyTo(bytes);
        reader.Advance(length);
        if (!reader.IsNext("\r\n"u8, advancePast: true))
        {
            throw new RedisProtocolException($"A bulk string of {length} bytes is not followed by CRLF.");
        }

        reply = create(bytes);
        return true;
    }

    private bool TryReadTextLine(ref SequenceReader<byte> reader, ref long budget, Func<byte[], RedisReply> create, out RedisReply? reply)
    {
        reply = null;
        if (!TryReadLine(ref reader, budget, out var line))
        {
            return false;
        }

        Charge(ref budget, line.Length);
        reply = create(line.ToArray());
        return true;
    }

    private static bool TryReadLength(ref SequenceReader<byte> reader, bool allowNull, string what, out long length)
    {
        if (!TryReadNumberLine(ref reader, out length, what + " length"))
        {
            return false;
        }

        if (length < 0 && !(allowNull && length == -1))
        {
            throw new RedisProtocolException($"Invalid {what} length {length}.");
        }

        return true;
    }

    private static bool TryReadNumberLine(ref SequenceReader<byte> reader, out long value, string what)
    {
        value = 0;
        if (!TryReadLine(ref reader, MaxNumberLine, out var line))
        {
            return false;
        }

        Span<byte> digits = stackalloc byte[MaxNumberLine];
        line.CopyTo(digits);
        var span = digits[..(int)line.Length];
        if (span.Length == 0 || !Utf8Parser.TryParse(span, out value, out var consumed) || consumed != span.Length
            || span[0] == (byte)'+')
        {
            throw new RedisProtocolException($"Invalid {what} '{Encoding.ASCII.GetString(span)}'.");
        }

        return true;
    }

    /// <summary>Reads up to CR LF. A CR must be followed by LF; a line longer than
    /// <paramref name="maxLength"/> without its CR LF is rejected rather than buffered.</summary>
    private static bool TryReadLine(ref SequenceReader<byte> reader, long maxLength, out ReadOnlySequence<byte> line)
    {
        if (!reader.TryReadTo(out line, (byte)'\r', advancePastDelimiter: true))
        {
            if (reader.Remaining > maxLength)
            {
                throw new RedisProtocolException($"A line of more than {maxLength} bytes has no CRLF.");
            }

            return false;
        }

        if (line.Length > maxLength)
        {
            throw new RedisProtocolException($"A line of {line.Length} bytes exceeds the limit of {maxLength} bytes.");
        }

        if (!reader.TryPeek(out var next))
        {
            return false;
        }

        if (next != (byte)'\n')
        {
            throw new RedisProtocolException("A CR in a reply is not followed by LF.");
        }

        reader.Advance(1);
        return true;
    }

    private void Charge(ref long budget, long bytes)
    {
        budget -= bytes;
        if (budget < 0)
        {
            throw new RedisProtocolException($"The reply is larger than the limit of {MaxReplyBytes} bytes (MaxReplyBytes).");
        }
    }

    internal static bool TryParseDouble(byte[]? text, out double value)
    {
        value = 0;
        if (text is null)
        {
            return false;
        }

        switch (Encoding.ASCII.GetString(text))
        {
            case "inf" or "+inf":
                value = double.PositiveInfinity;
                return true;
            case "-inf":
                value = double.NegativeInfinity;
                return true;
            case "nan" or "-nan":
                value = double.NaN;
                return true;
            case var s:
                return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }

    private static RedisReply ValidateBigNumber(byte[] digits)
    {
        var start = digits.Length > 0 && digits[0] is (byte)'-' or (byte)'+' ? 1 : 0;
        if (digits.Length == start || digits.AsSpan(start).ContainsAnyExceptInRange((byte)'0', (byte)'9'))
        {
            throw new RedisProtocolException($"'{Encoding.ASCII.GetString(digits)}' is not a RESP3 big number.");
        }

        return RedisReply.BigNumber(digits);
    }

    private static RedisReply ValidateVerbatim(byte[] bytes) =>
        bytes.Length >= 4 && bytes[3] == (byte)':'
            ? RedisReply.Verbatim(bytes)
            : throw new RedisProtocolException("A RESP3 verbatim string must start with a three-letter format and ':'.");
}
