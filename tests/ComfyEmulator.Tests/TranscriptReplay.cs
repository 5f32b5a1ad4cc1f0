using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>A recorded HTTP exchange next to what the emulator answered.</summary>
public sealed record ReplayedResponse(JsonElement Recorded, int Status, string? ContentType, byte[] Body)
{
    public JsonDocument Json() => JsonDocument.Parse(Body);
}

/// <summary>A recorded WebSocket frame next to the frame the emulator sent in its place.</summary>
public sealed record ReplayedFrame(string Connection, JsonElement Recorded, ReceivedFrame Actual);

/// <summary>
/// Drives the emulator with a transcript's HTTP requests and WebSocket actions, in the recorded order, and compares
/// every answer with the recording: HTTP status, content type, JSON shape (<see cref="JsonShape"/>), empty or text
/// bodies, PNG chunks and tEXt, and, per socket, each frame's type, data shape and binary header. Waiting for each
/// recorded frame before the next request reproduces the recording's cause and effect (e.g. interrupt after progress 3).
/// Ids, timestamps and counters differ by nature: prompt ids, sids and file names are learnt from the emulator's
/// answers and substituted into later requests and expectations.
/// </summary>
public sealed partial class TranscriptReplay(Transcript transcript, EmulatorInstance emulator)
{
    private readonly Dictionary<string, ReplaySocket> sockets = [];
    private readonly Dictionary<string, string> substitutions = [];
    private readonly List<string> differences = [];
    private HttpResponseMessage? lastResponse;
    private byte[] lastBody = [];

    /// <summary>
    /// Compare <c>status</c> frames and all other frames as two separate ordered streams: when several prompts are
    /// posted back to back (queue_ops), where an enqueue <c>status</c> falls among the running prompt's messages
    /// depends on timing, in ComfyUI as here.
    /// </summary>
    public bool SeparateStatusStream { get; init; }

    public List<ReplayedResponse> Responses { get; } = [];

    public List<ReplayedFrame> Frames { get; } = [];

    public async Task RunAsync()
    {
        try
        {
            foreach (var e in transcript.Events)
            {
                var at = $"{transcript.Scenario} seq {e.GetProperty("seq").GetInt32()}";
                switch (e.GetProperty("kind").GetString())
                {
                    case "ws_open":
                        sockets[Conn(e)] = new ReplaySocket(await emulator.ConnectAsync(e.GetProperty("url").GetString()!));
                        break;
                    case "ws_send":
                        await sockets[Conn(e)].Socket.SendAsync(e.GetProperty("text").GetString()!);
                        break;
                    case "ws_recv":
                        await MatchFrameAsync(Conn(e), e, at);
                        break;
                    case "ws_closed":
                        var leftover = sockets[Conn(e)].Leftover();
                        if (leftover.Count > 0) differences.Add($"{at}: {Conn(e)} got frames the recording does not have: {string.Join(" | ", leftover)}");
                        await sockets[Conn(e)].Socket.DisposeAsync();
                        break;
                    case "http_request":
                        await SendAsync(e);
                        break;
                    case "http_response":
                        CompareResponse(e, at);
                        break;
                }
            }
        }
        finally
        {
            foreach (var socket in sockets.Values) await socket.Socket.DisposeAsync();
            lastResponse?.Dispose();
        }
        Assert.True(differences.Count == 0, $"{transcript.Scenario}: the emulator differs from ComfyUI:\n" + string.Join("\n", differences));
    }

    private async Task MatchFrameAsync(string conn, JsonElement e, string at)
    {
        var socket = sockets[conn];
        var binary = e.GetProperty("frame").GetString() == "binary";
        using var recordedText = binary ? null : JsonDocument.Parse(e.GetProperty("text").GetString()!);
        var type = recordedText?.RootElement.GetProperty("type").GetString() ?? "binary";

        var actual = await socket.NextAsync(SeparateStatusStream ? type == "status" : null);
        // How many progress steps complete before an interrupt takes effect depends on timing.
        while (type == "execution_interrupted" && actual.Type is "progress" or "progress_state")
        {
            actual = await socket.NextAsync(SeparateStatusStream ? false : null);
        }
        Frames.Add(new ReplayedFrame(conn, e, actual));
        if (actual.Type != type)
        {
            Assert.Fail($"{at}: {conn} expected a {type} frame ({(binary ? "binary" : e.GetProperty("text").GetString())}), got {actual}");
        }

        if (binary)
        {
            var head = Convert.ToHexStringLower(actual.Bytes![..8]);
            Expect(at, "binary head", e.GetProperty("head_hex").GetString(), head);
            var pngOffset = actual.EventType == 4 ? 8 + (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(actual.Bytes.AsSpan(4)) : 8;
            ComparePng(at, e.GetProperty("png"), PngFile.Parse(actual.Bytes.AsSpan(pngOffset)));
            return;
        }
        using var actualJson = JsonDocument.Parse(actual.Text!);
        CompareJson(at, recordedText!.RootElement, actualJson.RootElement);
    }

    private async Task SendAsync(JsonElement e)
    {
        lastResponse?.Dispose();
        var request = new HttpRequestMessage(new HttpMethod(e.GetProperty("method").GetString()!), Substitute(Transcript.RequestUri(e)));
        if (e.TryGetProperty("body", out var body))
        {
            request.Content = new StringContent(Substitute(body.GetRawText()), Encoding.UTF8, "application/json");
        }
        lastResponse = await emulator.Http.SendAsync(request, TestContext.Current.CancellationToken);
        lastBody = await lastResponse.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
    }

    private void CompareResponse(JsonElement e, string at)
    {
        var response = lastResponse!;
        var contentType = response.Content.Headers.ContentType?.ToString();
        Responses.Add(new ReplayedResponse(e, (int)response.StatusCode, contentType, lastBody));
        var what = $"{at} {e.GetProperty("method").GetString()} {e.GetProperty("path").GetString()}";
        Expect(what, "status", e.GetProperty("status").GetInt32().ToString(), ((int)response.StatusCode).ToString());
        Expect(what, "content type", e.GetProperty("content_type").GetString(), contentType);

        if (e.TryGetProperty("body", out var expectedBody))
        {
            try
            {
                using var actual = JsonDocument.Parse(lastBody);
                CompareJson(what, expectedBody, actual.RootElement);
            }
            catch (JsonException)
            {
                differences.Add($"{what}: body is not JSON: {Encoding.UTF8.GetString(lastBody)}");
            }
        }
        else if (e.TryGetProperty("body_text", out var expectedText))
        {
            Expect(what, "body", Substitute(expectedText.GetString()!), Encoding.UTF8.GetString(lastBody));
        }
        else if (e.TryGetProperty("head_hex", out var head))
        {
            Expect(what, "head", head.GetString(), Convert.ToHexStringLower(lastBody[..Math.Min(8, lastBody.Length)]));
            if (e.TryGetProperty("content_disposition", out var disposition))
            {
                Expect(what, "Content-Disposition", Substitute(disposition.GetString()!),
                    response.Content.Headers.NonValidated.TryGetValues("Content-Disposition", out var values) ? values.ToString() : null);
            }
            if (e.TryGetProperty("png", out var png)) ComparePng(what, png, PngFile.Parse(lastBody));
        }
    }

    /// <summary>
    /// Same chunks, size and tEXt keys. A tEXt value must equal the recording byte for byte (the emulator got the very
    /// same request), unless it holds an IS_CHANGED timestamp, which only has to have the same JSON shape.
    /// </summary>
    private void ComparePng(string at, JsonElement expected, PngFile actual)
    {
        Expect(at, "PNG chunks", string.Join(",", expected.GetProperty("chunks").EnumerateArray().Select(c => c.GetString())), string.Join(",", actual.Chunks));
        Expect(at, "PNG size", $"{expected.GetProperty("width")}x{expected.GetProperty("height")}", $"{actual.Width}x{actual.Height}");
        var expectedText = expected.GetProperty("text").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        Expect(at, "PNG tEXt keys", string.Join(",", expectedText.Keys), string.Join(",", actual.Text.Keys));
        foreach (var (key, value) in expectedText)
        {
            if (!actual.Text.TryGetValue(key, out var actualValue)) continue;
            if (value.Contains("\"is_changed\"", StringComparison.Ordinal))
            {
                using var expectedJson = JsonDocument.Parse(value);
                using var actualJson = JsonDocument.Parse(actualValue);
                foreach (var difference in JsonShape.Differences(expectedJson.RootElement, actualJson.RootElement)) differences.Add($"{at}: PNG {key} {difference}");
            }
            else
            {
                Expect(at, $"PNG tEXt {key}", value, actualValue);
            }
        }
    }

    private void CompareJson(string at, JsonElement recorded, JsonElement actual)
    {
        Learn(recorded, actual);
        using var expected = JsonDocument.Parse(Substitute(recorded.GetRawText()));
        foreach (var difference in JsonShape.Differences(expected.RootElement, actual)) differences.Add($"{at}: {difference}");
    }

    /// <summary>Pairs up ids and file names that differ only because this is another server instance.</summary>
    private void Learn(JsonElement recorded, JsonElement actual)
    {
        switch (recorded.ValueKind)
        {
            case JsonValueKind.String when actual.ValueKind == JsonValueKind.String:
                var from = recorded.GetString()!;
                var to = actual.GetString()!;
                if (from != to && Identifier().IsMatch(from)) substitutions.TryAdd(from, to);
                break;
            case JsonValueKind.Object when actual.ValueKind == JsonValueKind.Object:
                var recordedProperties = recorded.EnumerateObject().ToList();
                var actualProperties = actual.EnumerateObject().ToList();
                // Objects keyed by prompt id (history) pair up by position.
                for (var i = 0; i < Math.Min(recordedProperties.Count, actualProperties.Count); i++)
                {
                    if (recordedProperties[i].Name != actualProperties[i].Name && Identifier().IsMatch(recordedProperties[i].Name))
                    {
                        substitutions.TryAdd(recordedProperties[i].Name, actualProperties[i].Name);
                    }
                }
                foreach (var property in recordedProperties)
                {
                    var name = substitutions.GetValueOrDefault(property.Name, property.Name);
                    if (actual.TryGetProperty(name, out var value)) Learn(property.Value, value);
                }
                break;
            case JsonValueKind.Array when actual.ValueKind == JsonValueKind.Array:
                for (var i = 0; i < Math.Min(recorded.GetArrayLength(), actual.GetArrayLength()); i++) Learn(recorded[i], actual[i]);
                break;
        }
    }

    private string Substitute(string text) =>
        substitutions.Aggregate(text, (current, pair) => current.Replace(pair.Key, pair.Value, StringComparison.Ordinal));

    private void Expect(string at, string what, string? expected, string? actual)
    {
        if (expected != actual) differences.Add($"{at}: {what}: expected «{expected}», got «{actual}»");
    }

    private static string Conn(JsonElement e) => e.GetProperty("conn").GetString()!;

    /// <summary>A prompt id (UUID), a server-made sid (32 hex) or an output file name with its counter.</summary>
    [GeneratedRegex(@"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}|.+_\d{5}_\.png)$")]
    private static partial Regex Identifier();

    /// <summary>A socket whose frames can be taken in arrival order, or as a status stream and an "everything else" stream.</summary>
    private sealed class ReplaySocket(TestSocket socket)
    {
        private readonly Queue<ReceivedFrame> statuses = new();
        private readonly Queue<ReceivedFrame> others = new();

        public TestSocket Socket { get; } = socket;

        public async Task<ReceivedFrame> NextAsync(bool? status)
        {
            if (status is null) return await Socket.NextAsync();
            var wanted = status.Value ? statuses : others;
            while (wanted.Count == 0)
            {
                var frame = await Socket.NextAsync();
                (frame.Type == "status" ? statuses : others).Enqueue(frame);
            }
            return wanted.Dequeue();
        }

        public List<ReceivedFrame> Leftover() => [.. statuses, .. others, .. Socket.Buffered()];
    }
}
