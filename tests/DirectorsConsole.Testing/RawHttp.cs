using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace DirectorsConsole.Testing;

/// <summary>One HTTP/1.x response as it came off the socket.</summary>
public sealed record RawHttpResponse(int Status, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string? ContentType => Headers.GetValueOrDefault("content-type");

    public string BodyText => Encoding.UTF8.GetString(Body);

    /// <summary>The body as a JSON object, or null when it is empty or not JSON.</summary>
    public JsonObject? Json()
    {
        try
        {
            return Body.Length == 0 ? null : JsonNode.Parse(Body) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    public override string ToString() => $"{Status} {ContentType} {BodyText}";
}

/// <summary>
/// Sends bytes that no HTTP client would send (a broken request line, a NUL in the path, oversized heads, broken
/// chunked framing) on a plain TCP connection, and reads every response until the server closes the connection.
/// </summary>
public static class RawHttp
{
    public static async Task<IReadOnlyList<RawHttpResponse>> ExchangeAsync(int port, byte[] request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        var stream = client.GetStream();
        var received = new MemoryStream();
        var reading = stream.CopyToAsync(received, timeout.Token);
        try
        {
            await stream.WriteAsync(request, timeout.Token);
        }
        catch (IOException)
        {
            // The server may refuse and close before it has read everything (an oversized head); what it
            // answered is still there to read.
        }

        try
        {
            await reading;
        }
        catch (IOException)
        {
            // A reset after the answer (unread request bytes left behind) ends the stream as well.
        }

        return Parse(received.ToArray());
    }

    /// <summary>The responses in <paramref name="bytes"/>, framed by Content-Length or chunked encoding.</summary>
    public static IReadOnlyList<RawHttpResponse> Parse(byte[] bytes)
    {
        var responses = new List<RawHttpResponse>();
        var position = 0;
        while (position < bytes.Length)
        {
            var headEnd = bytes.AsSpan(position).IndexOf("\r\n\r\n"u8);
            if (headEnd < 0)
            {
                throw new InvalidDataException($"An incomplete response head: {Encoding.ASCII.GetString(bytes, position, bytes.Length - position)}");
            }

            var lines = Encoding.ASCII.GetString(bytes, position, headEnd).Split("\r\n");
            position += headEnd + 4;
            var status = int.Parse(lines[0].AsSpan(9, 3), provider: System.Globalization.CultureInfo.InvariantCulture);
            var headers = lines.Skip(1)
                .Select(line => line.Split(':', 2))
                .GroupBy(parts => parts[0].Trim().ToLowerInvariant())
                .ToDictionary(group => group.Key, group => string.Join(", ", group.Select(parts => parts[1].Trim())));
            byte[] body;
            if (headers.TryGetValue("transfer-encoding", out var coding) && coding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                var content = new MemoryStream();
                while (true)
                {
                    var lineEnd = bytes.AsSpan(position).IndexOf("\r\n"u8);
                    var size = Convert.ToInt32(Encoding.ASCII.GetString(bytes, position, lineEnd).Split(';')[0], 16);
                    position += lineEnd + 2;
                    content.Write(bytes, position, size);
                    position += size + 2;
                    if (size == 0)
                    {
                        break;
                    }
                }

                body = content.ToArray();
            }
            else
            {
                var length = headers.TryGetValue("content-length", out var declared) ? int.Parse(declared, System.Globalization.CultureInfo.InvariantCulture) : 0;
                body = bytes.AsSpan(position, length).ToArray();
                position += length;
            }

            responses.Add(new RawHttpResponse(status, headers, body));
        }

        return responses;
    }
}

/// <summary>A request the HTTP server itself refuses before any application code runs, and what it must answer.</summary>
public sealed record MalformedHttpRequest(string Name, byte[] Bytes, int Status, string DetailContains)
{
    public override string ToString() => Name;

    /// <summary>Every kind of request Kestrel refuses on its own. <paramref name="path"/> is a route that answers GET
    /// and <paramref name="postPath"/> one that reads a POST body, so only the malformation can be the reason for the
    /// refusal.</summary>
    public static IReadOnlyList<MalformedHttpRequest> All(string path, string postPath) =>
    [
        Text("NUL in the path", $"GET {path}/%00 HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, "NUL"),
        Text("70 KB request line", $"GET {path}?q={new string('a', 70 * 1024)} HTTP/1.1\r\nHost: localhost\r\n\r\n", 414, "request line"),
        Text("70 KB header", $"GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Big: {new string('b', 70 * 1024)}\r\n\r\n", 431, "headers"),
        Text("too many headers", $"GET {path} HTTP/1.1\r\nHost: localhost\r\n{string.Concat(Enumerable.Range(0, 150).Select(i => $"X-H{i}: v\r\n"))}\r\n", 431, "header fields"),
        Text("bad method token", $"G(T {path} HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, "request line"),
        Text("HTTP/9.9", $"GET {path} HTTP/9.9\r\nHost: localhost\r\n\r\n", 505, "HTTP version"),
        Text("header without a colon", $"GET {path} HTTP/1.1\r\nHost: localhost\r\nBroken header\r\n\r\n", 400, "header"),
        Text("invalid Host", $"GET {path} HTTP/1.1\r\nHost: exa mple/com\r\n\r\n", 400, "Host"),
        Text("two Content-Lengths", $"POST {postPath} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, "Content-Length"),
        Text("broken chunked body", $"POST {postPath} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{{}}\r\n0\r\n\r\n", 400, "chunked"),
    ];

    private static MalformedHttpRequest Text(string name, string request, int status, string detailContains) =>
        new(name, Encoding.Latin1.GetBytes(request), status, detailContains);
}
