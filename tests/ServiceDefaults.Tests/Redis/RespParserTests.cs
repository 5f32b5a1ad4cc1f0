using System.Buffers;
using System.Text;
using DirectorsConsole.ServiceDefaults.Redis;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

public sealed class RespParserTests
{
    // Every RESP2 and RESP3 type, each with a readable summary of how it must parse.
    private static readonly (string Wire, string Expected)[] Samples =
    [
        ("+OK\r\n", "SimpleString:OK"),
        ("-ERR unknown command\r\n", "Error:ERR unknown command"),
        (":-42\r\n", "Integer:-42"),
        ("$5\r\nhe\r\no\r\n", "BulkString:he\r\no"),
        ("$0\r\n\r\n", "BulkString:"),
        ("$-1\r\n", "Null"),
        ("*-1\r\n", "Null"),
        ("*0\r\n", "Array[]"),
        ("*3\r\n:1\r\n$1\r\na\r\n*1\r\n+x\r\n", "Array[Integer:1,BulkString:a,Array[SimpleString:x]]"),
        ("_\r\n", "Null"),
        (",3.25\r\n", "Double:3.25"),
        (",-inf\r\n", "Double:-Infinity"),
        ("#t\r\n", "Boolean:true"),
        ("#f\r\n", "Boolean:false"),
        ("(3492890328409238509324850943850943825024385\r\n", "BigNumber:3492890328409238509324850943850943825024385"),
        ("!21\r\nSYNTAX invalid syntax\r\n", "Error:SYNTAX invalid syntax"),
        ("=15\r\ntxt:Some string\r\n", "VerbatimString:Some string"),
        ("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", "Map[SimpleString:first,Integer:1,SimpleString:second,Integer:2]"),
        ("~2\r\n+a\r\n+b\r\n", "Set[SimpleString:a,SimpleString:b]"),
        (">3\r\n+message\r\n+news\r\n$2\r\nhi\r\n", "Push[SimpleString:message,SimpleString:news,BulkString:hi]"),
        ("|1\r\n+ttl\r\n:3600\r\n$3\r\nval\r\n", "BulkString:val{ttl=3600}"),
    ];

    public static TheoryData<string, string> EveryType => new(Samples.Select(s => (s.Wire, s.Expected)));

    [Theory]
    [MemberData(nameof(EveryType))]
    public void EveryReplyTypeParses(string wire, string expected)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(wire));
        var parser = new RespParser(1024 * 1024);

        Assert.True(parser.TryRead(ref buffer, out var reply));

        Assert.Equal(expected, Describe(reply));
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void RepliesSplitAtEveryByteParseOnceComplete()
    {
        var wire = Encoding.UTF8.GetBytes(string.Concat(Samples.Select(s => s.Wire)));
        var expected = Samples.Select(s => s.Expected).ToArray();
        var parser = new RespParser(1024 * 1024);

        for (var split = 0; split <= wire.Length; split++)
        {
            // What has arrived so far: only complete replies may come out, and nothing may throw.
            var prefix = new ReadOnlySequence<byte>(wire, 0, split);
            var early = new List<string>();
            while (parser.TryRead(ref prefix, out var reply))
            {
                early.Add(Describe(reply));
            }

            // Then everything, as two segments joined at the split point.
            var whole = TwoSegments(wire, split);
            var all = new List<string>();
            while (parser.TryRead(ref whole, out var reply))
            {
                all.Add(Describe(reply));
            }

            Assert.Equal(expected[..early.Count], early);
            Assert.Equal(expected, all);
            Assert.True(whole.IsEmpty);
        }
    }

    [Theory]
    [InlineData("?foo\r\n")]
    [InlineData("$abc\r\n")]
    [InlineData("$\r\n")]
    [InlineData("$-2\r\n")]
    [InlineData("*-5\r\n")]
    [InlineData("%-1\r\n")]
    [InlineData(":12a\r\n")]
    [InlineData("$3\r\nabcXY")]
    [InlineData("+OK\rX")]
    [InlineData("#x\r\n")]
    [InlineData(",1.2.3\r\n")]
    [InlineData("_x\r\n")]
    [InlineData("=3\r\nabc\r\n")]
    [InlineData("(12x\r\n")]
    [InlineData(":123456789012345678901234567890\r\n")]
    public void MalformedInputIsAProtocolError(string wire)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(wire));

        Assert.Throws<RedisProtocolException>(() => new RespParser(1024 * 1024).TryRead(ref buffer, out _));
    }

    [Fact]
    public void NestingBeyondTheLimitIsAProtocolError()
    {
        var wire = string.Concat(Enumerable.Repeat("*1\r\n", RespParser.DefaultMaxDepth + 1)) + ":1\r\n";
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(wire));

        var error = Assert.Throws<RedisProtocolException>(() => new RespParser(1024 * 1024).TryRead(ref buffer, out _));
        Assert.Contains("nested", error.Message);
    }

    [Theory]
    [InlineData("$2000\r\n")]
    [InlineData("*5000\r\n")]
    [InlineData("%600\r\n")]
    [InlineData("*3\r\n$1022\r\n")]
    public void LengthsOverTheLimitFailBeforeTheDataArrives(string wire)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(wire));

        var error = Assert.Throws<RedisProtocolException>(() => new RespParser(1024).TryRead(ref buffer, out _));
        Assert.Contains("MaxReplyBytes", error.Message);
    }

    [Fact]
    public void ManyBulkStringsThatTogetherExceedTheLimitAreRejected()
    {
        var wire = "*4\r\n" + string.Concat(Enumerable.Repeat("$400\r\n" + new string('x', 400) + "\r\n", 4));
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(wire));

        Assert.Throws<RedisProtocolException>(() => new RespParser(1024).TryRead(ref buffer, out _));
    }

    [Fact]
    public void ALineWithoutCrlfLongerThanTheLimitIsRejected()
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes("+" + new string('x', 2000)));

        Assert.Throws<RedisProtocolException>(() => new RespParser(1024).TryRead(ref buffer, out _));
    }

    [Fact]
    public void ConversionsReadCompatibleKindsAndNameTheKindOtherwise()
    {
        var parser = new RespParser(1024);
        RedisReply Parse(string wire)
        {
            var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(wire));
            Assert.True(parser.TryRead(ref buffer, out var reply));
            return reply;
        }

        Assert.Equal(12, Parse("$2\r\n12\r\n").AsInt64());
        Assert.Equal(1.5, Parse("$3\r\n1.5\r\n").AsDouble());
        Assert.True(Parse(":1\r\n").AsBoolean());
        Assert.Equal("txt", Parse("=7\r\ntxt:abc\r\n").VerbatimFormat);
        Assert.Null(Parse("_\r\n").AsString());
        Assert.True(Parse("$-1\r\n").IsNull);
        var error = Assert.Throws<InvalidCastException>(() => Parse("*1\r\n:1\r\n").AsInt64());
        Assert.Contains("Array", error.Message);
        Assert.Throws<InvalidCastException>(() => Parse("+OK\r\n").Items);
    }

    private static string Describe(RedisReply reply)
    {
        var text = reply.Kind switch
        {
            RedisReplyKind.Null => "Null",
            RedisReplyKind.Array or RedisReplyKind.Set or RedisReplyKind.Push or RedisReplyKind.Map or RedisReplyKind.Attribute
                => $"{reply.Kind}[{string.Join(",", reply.Items.Select(Describe))}]",
            RedisReplyKind.Double => $"Double:{reply.AsDouble().ToString(System.Globalization.CultureInfo.InvariantCulture)}",
            _ => $"{reply.Kind}:{reply.AsString()}",
        };
        if (reply.Attributes is { } attributes)
        {
            var items = attributes.Items;
            text += "{" + string.Join(",", Enumerable.Range(0, items.Count / 2).Select(i => $"{items[2 * i].AsString()}={items[2 * i + 1].AsString()}")) + "}";
        }

        return text;
    }

    private static ReadOnlySequence<byte> TwoSegments(byte[] bytes, int split)
    {
        var first = new Segment(bytes.AsMemory(0, split), 0);
        var second = first.Append(bytes.AsMemory(split));
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
