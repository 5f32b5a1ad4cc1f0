using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// Thousands of malformed requests, generated from a fixed seed over every operation of the merged OpenAPI
/// document, through the Gateway of the running suite: none may be a 5xx, and every error must be a JSON
/// body with a string <c>detail</c> (or the 422 list). Every body is invalid on purpose (each known field
/// has the wrong type, or the body is not JSON), so nothing in the shared suite changes.
/// </summary>
[Collection(nameof(SuiteCollection))]
public sealed class FuzzTests(RunningSuiteFixture fixture)
{
    private const int Seed = 20_261_205;
    private const int RequestCount = 5_000;
    private const int Concurrency = 8;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MalformedRequestsOverEveryRouteNeverAnswer5xxAndAlwaysSayWhy()
    {
        // Arrange
        var document = (await fixture.Suite.Gateway.GetFromJsonAsync<JsonObject>("/openapi.json", Token))!;
        var operations = Operation.All(document);
        var random = new Random(Seed);
        var cases = Enumerable.Range(0, RequestCount).Select(i => MalformedRequest.Create(operations[i % operations.Count], document, random)).ToArray();

        // Act
        var results = new (MalformedRequest Case, int Status, string? Problem)[cases.Length];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < cases.Length; i = Interlocked.Increment(ref next))
            {
                results[i] = await SendAsync(cases[i]);
            }
        })));

        // Assert
        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"{cases.Length} malformed requests over {operations.Count} operations (seed {Seed}); by status: " +
            string.Join(", ", results.GroupBy(r => r.Status).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));
        output?.WriteLine("by kind: " + string.Join(", ", results.GroupBy(r => r.Case.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));
        var failures = results.Where(r => r.Problem is not null).ToArray();
        Assert.True(failures.Length == 0,
            $"{failures.Length} answers broke the rules:\n" + string.Join("\n", failures.Take(25).Select(f => $"{f.Case} → {f.Status}: {f.Problem}")));
    }

    [Fact]
    public async Task ChunkedBodyOverTheLimitAnswers413WithDetail()
    {
        // Arrange: 101 MB with no declared length, over the default 100 MB limit.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/job")
        {
            Content = new StreamContent(new RepeatingStream(101L * 1024 * 1024)),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TransferEncodingChunked = true;

        // Act
        using var response = await fixture.Suite.Gateway.SendAsync(request, Token);

        // Assert
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(Token))!;
        Assert.Contains("100 MB", (string?)problem["detail"]);
    }

    [Fact]
    public async Task RequestsTheHttpServerRefusesStillAnswerAProblemWithDetail()
    {
        // Arrange: raw bytes no HTTP client sends, so they reach the Gateway's socket as they are.
        var cases = MalformedHttpRequest.All("/api/jobs/fuzz-job", "/api/job");

        // Act
        var answers = new List<(MalformedHttpRequest Case, IReadOnlyList<RawHttpResponse> Responses)>();
        foreach (var malformed in cases)
        {
            answers.Add((malformed, await RawHttp.ExchangeAsync(fixture.Suite.Port, malformed.Bytes, Token)));
        }

        // Assert
        var failures = answers.Where(a => !(a.Responses is [var only] && only.Status == a.Case.Status
                && only.ContentType?.StartsWith("application/problem+json", StringComparison.Ordinal) == true
                && only.Json()?["detail"] is JsonValue detail && ((string?)detail)?.Contains(a.Case.DetailContains, StringComparison.OrdinalIgnoreCase) == true))
            .Select(a => $"{a.Case} (expected {a.Case.Status}) → {string.Join(" | ", a.Responses)}")
            .ToArray();
        Assert.True(failures.Length == 0, string.Join("\n", failures));
    }

    private async Task<(MalformedRequest, int, string?)> SendAsync(MalformedRequest malformed)
    {
        using var request = malformed.ToHttpRequest();
        try
        {
            using var response = await fixture.Suite.Gateway.SendAsync(request, Token);
            var body = await response.Content.ReadAsByteArrayAsync(Token);
            return (malformed, (int)response.StatusCode, Judge(response, body));
        }
        catch (HttpRequestException exception)
        {
            return (malformed, 0, $"no answer: {exception.Message}");
        }
    }

    /// <summary>Null when the answer keeps the rules, else what is wrong with it.</summary>
    private static string? Judge(HttpResponseMessage response, byte[] body)
    {
        var status = (int)response.StatusCode;
        if (status >= 500)
        {
            return $"server error: {Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 400)))}";
        }

        // A HEAD answer never has a body (RFC 9110 §9.3.2): its status is all there is to judge.
        if (status < 400 || response.RequestMessage?.Method == HttpMethod.Head)
        {
            return null;
        }

        JsonNode? detail;
        try
        {
            detail = JsonNode.Parse(body)?["detail"];
        }
        catch (JsonException)
        {
            return $"error body is not JSON ({body.Length} bytes, {response.Content.Headers.ContentType}): {Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 200)))}";
        }

        return detail switch
        {
            JsonValue value when value.GetValueKind() == JsonValueKind.String => null,
            JsonArray list when status == 422 && list.All(e => e?["loc"] is JsonArray && e["msg"] is JsonValue) => null,
            _ => $"no string detail: {Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 300)))}",
        };
    }

    /// <summary>One operation of the OpenAPI document: its method, path template, query parameters and
    /// request body schema (resolved).</summary>
    private sealed record Operation(HttpMethod Method, string Template, IReadOnlyList<string> QueryParameters, JsonObject? BodySchema)
    {
        public static IReadOnlyList<Operation> All(JsonObject document)
        {
            var operations = new List<Operation>();
            foreach (var (template, item) in document["paths"]!.AsObject())
            {
                foreach (var (method, operation) in item!.AsObject())
                {
                    if (method is "parameters" or "summary" or "description" or "servers")
                    {
                        continue;
                    }

                    var query = (operation?["parameters"] as JsonArray ?? [])
                        .Where(p => (string?)p?["in"] == "query")
                        .Select(p => (string)p!["name"]!)
                        .ToArray();
                    var schema = operation?["requestBody"]?["content"]?.AsObject()
                        .Select(c => c.Value?["schema"]).FirstOrDefault(s => s is not null);
                    operations.Add(new Operation(new HttpMethod(method.ToUpperInvariant()), template, query, Resolve(document, schema)));
                }
            }

            return operations;
        }

        private static JsonObject? Resolve(JsonObject document, JsonNode? schema)
        {
            for (var depth = 0; depth < 8 && schema?["$ref"] is JsonValue reference; depth++)
            {
                schema = document["components"]?["schemas"]?[((string)reference!).Split('/')[^1]];
            }

            return schema as JsonObject;
        }
    }

    /// <summary>One generated request and the kind of malformation it carries.</summary>
    private sealed record MalformedRequest(string Kind, HttpMethod Method, string Target, byte[]? Body, string? ContentType, IReadOnlyList<(string Name, string Value)> Headers)
    {
        private static readonly string[] PathValues =
        [
            "%FF%FE", "%C0%AF", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "a%20b", "%E6%BC%A2%E5%AD%97", "%25", "%0A%0D", "'%3B--",
            "%7B%7D", "-1", "99999999999999999999999999", "1e400", "%F0%9F%92%A9", "%uD800", "%", "x%ZZ", "CON", "a.b.c",
        ];

        private static readonly string[] QueryValues =
        [
            "%00", "%FF", "%ZZ", "-1", "abc", "99999999999999999999999999", "1e400", "NaN", "%0A", "true", "[]", "{}", "%E2%80%AE",
        ];

        private static readonly string[] BrokenJson =
        [
            // Never valid JSON: a valid body of the wrong shape could be stored by an endpoint that takes any JSON.
            "{", "[", "{\"a\":", "nul", "{'a':1}", "{\"a\":1,}", "\"unterminated", "{\"a\":1}{\"b\":2}",
            "{\"a\":01}", "{\"a\":.5}", "{\"a\":+1}", "{\"a\":Infinity}", "\u00ef\u00bb\u00bf{}", "[1e400", "{\"a\":NaN}",
        ];

        public static MalformedRequest Create(Operation operation, JsonObject document, Random random)
        {
            var path = FillPath(operation.Template, random, fuzz: false);
            var query = string.Join("&", operation.QueryParameters.Select(name => $"{name}={Token(random)}"));
            var target = query.Length > 0 ? $"{path}?{query}" : path;
            var kinds = new[]
            {
                "bad-charset", "wrong-content-type", "broken-json", "invalid-utf8", "nul", "deep-nesting", "wrong-types",
                "huge-numbers", "empty-body", "other-method", "bad-path", "bad-query", "duplicate-query", "long-target",
                "large-header", "large-body", "body-on-get", "content-encoding",
            };
            var kind = kinds[random.Next(kinds.Length)];
            var json = "application/json";
            return kind switch
            {
                "bad-charset" => new(kind, operation.Method, target, Utf8(WrongTypes(operation, random)), $"application/json; charset={Pick(random, "bogus", "utf-99", "\"\"", "x-unknown", "")}", []),
                "wrong-content-type" => new(kind, operation.Method, target, Utf8(WrongTypes(operation, random)), Pick(random, "text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "image/png", "application/jsonx", "*/*", ";;;"), []),
                "broken-json" => new(kind, operation.Method, target, Utf8(Pick(random, BrokenJson)), json, []),
                "invalid-utf8" => new(kind, operation.Method, target, [.. "{\"name\":\""u8, 0xFF, 0xFE, 0xC3, 0x28, 0xED, 0xA0, 0x80, .. "\"}"u8], json, []),
                "nul" => random.Next(3) switch
                {
                    0 => new(kind, operation.Method, target, Utf8(NulBody(operation)), json, []),
                    1 => new(kind, operation.Method, target, [.. "{\"name\":\"a"u8, 0x00, .. "b\"}"u8], json, []),
                    _ => new(kind, operation.Method, $"{path}?{string.Join("&", operation.QueryParameters.Append("q").Select(name => $"{name}=a%00b"))}", null, null, []),
                },
                "deep-nesting" => new(kind, operation.Method, target, Utf8(random.Next(2) == 0
                    ? new string('[', 5_000) + new string(']', 5_000)
                    : string.Concat(Enumerable.Repeat("{\"a\":", 2_000)) + "1" + new string('}', 2_000)), json, []),
                "wrong-types" => new(kind, operation.Method, target, Utf8(WrongTypes(operation, random)), json, []),
                "huge-numbers" => new(kind, operation.Method, target, Utf8(HugeNumbers(operation, random)), json, []),
                "empty-body" => new(kind, operation.Method, target, [], random.Next(2) == 0 ? json : null, []),
                "other-method" => new(kind, Pick(random, HttpMethod.Get, HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Options, new HttpMethod("PROPFIND")),
                    target, Utf8(WrongTypes(operation, random)), json, []),
                "bad-path" => new(kind, operation.Method, FillPath(operation.Template, random, fuzz: true) + (query.Length > 0 ? $"?{query}" : ""), Utf8(WrongTypes(operation, random)), json, []),
                "bad-query" => new(kind, operation.Method, $"{path}?{string.Join("&", operation.QueryParameters.Append("limit").Append("offset").Select(name => $"{name}={Pick(random, QueryValues)}"))}", null, null, []),
                "duplicate-query" => new(kind, operation.Method, $"{path}?{string.Join("&", operation.QueryParameters.Append("project").SelectMany(name => new[] { $"{name}=a", $"{name}=b", $"{name}=" }))}", null, null, []),
                "long-target" => new(kind, operation.Method, $"{path}?pad={new string('a', random.Next(8_200, 40_000))}", null, null, []),
                "large-header" => new(kind, operation.Method, target, null, null, [("X-Padding", new string('h', random.Next(33_000, 60_000)))]),
                "large-body" => new(kind, operation.Method, target, Utf8("[" + string.Join(",", Enumerable.Repeat("\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"", random.Next(1_000, 5_000))) + "]"), json, []),
                "body-on-get" => new(kind, HttpMethod.Get, target, Utf8(WrongTypes(operation, random)), json, []),
                _ => new(kind, operation.Method, target, Utf8(WrongTypes(operation, random)), json, [("Content-Encoding", Pick(random, "gzip", "br", "deflate", "bogus"))]),
            };
        }

        public HttpRequestMessage ToHttpRequest()
        {
            var request = new HttpRequestMessage(Method, Target);
            if (Body is not null)
            {
                request.Content = new ByteArrayContent(Body);
                if (ContentType is not null)
                {
                    request.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
                }
            }

            foreach (var (name, value) in Headers)
            {
                if (!request.Headers.TryAddWithoutValidation(name, value))
                {
                    (request.Content ??= new ByteArrayContent([])).Headers.TryAddWithoutValidation(name, value);
                }
            }

            return request;
        }

        public override string ToString() =>
            $"[{Kind}] {Method} {(Target.Length > 120 ? Target[..120] + "…" : Target)} ({ContentType}, {Body?.Length ?? 0} bytes)";

        private static string FillPath(string template, Random random, bool fuzz)
        {
            var builder = new StringBuilder();
            foreach (var segment in template.Split('/'))
            {
                if (builder.Length > 0 || segment.Length > 0)
                {
                    builder.Append('/');
                }

                builder.Append(segment.StartsWith('{') ? (fuzz ? Pick(random, PathValues) : Token(random)) : segment);
            }

            return builder.Length == 0 ? "/" : builder.ToString();
        }

        /// <summary>A random id that no test creates, so no real thing is ever addressed.</summary>
        private static string Token(Random random) => $"fuzz{random.Next(1_000_000):D6}";

        /// <summary>Every known field with a value of another type: no endpoint can accept it.</summary>
        private static string WrongTypes(Operation operation, Random random)
        {
            var body = new JsonObject();
            foreach (var (name, type) in Properties(operation))
            {
                body[name] = type switch
                {
                    "string" => Pick<JsonNode?>(random, 12345, true, new JsonArray(1, 2), new JsonObject { ["x"] = 1 }),
                    "integer" or "number" => Pick<JsonNode?>(random, "seven", true, new JsonArray(), new JsonObject(), 1.5),
                    "boolean" => Pick<JsonNode?>(random, "yes", 2, new JsonArray()),
                    "array" => Pick<JsonNode?>(random, "list", 3, new JsonObject { ["0"] = 1 }),
                    "object" => Pick<JsonNode?>(random, "object", 4, new JsonArray(1)),
                    _ => new JsonArray(new JsonArray(new JsonArray())),
                };
            }

            return body.Count > 0 ? body.ToJsonString() : Pick(random, BrokenJson);
        }

        private static string HugeNumbers(Operation operation, Random random)
        {
            var huge = new[] { "1e400", "-1e400", "123456789012345678901234567890", "18446744073709551616", "-9223372036854775809", "1.7976931348623157e309", "0.0000000000000000000000000000000000000001e-400" };
            var properties = Properties(operation).ToArray();
            return properties.Length == 0
                ? $"[{Pick(random, huge)}"
                : "{" + string.Join(",", properties.Select(p => $"\"{p.Name}\":{Pick(random, huge)}")) + "}";
        }

        private static string NulBody(Operation operation)
        {
            var body = new JsonObject();
            foreach (var (name, type) in Properties(operation))
            {
                body[name] = type == "string" ? "bad\u0000value" : "\u0000";
            }

            body["\u0000"] = "\u0000";
            return body.ToJsonString();
        }

        private static IEnumerable<(string Name, string? Type)> Properties(Operation operation) =>
            (operation.BodySchema?["properties"] as JsonObject ?? [])
            .Select(p => (p.Key, (string?)(p.Value?["type"] as JsonValue) ?? (p.Value?["type"] as JsonArray)?.FirstOrDefault()?.ToString()));

        private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

        private static T Pick<T>(Random random, params T[] values) => values[random.Next(values.Length)];
    }

    /// <summary>A body of <c>length</c> spaces, produced as it is read rather than held in memory.</summary>
    private sealed class RepeatingStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = (int)Math.Min(count, length - _position);
            buffer.AsSpan(offset, read).Fill((byte)' ');
            _position += read;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
