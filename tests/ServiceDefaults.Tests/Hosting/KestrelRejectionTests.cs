using System.Text;
using DirectorsConsole.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace DirectorsConsole.ServiceDefaults.Tests.Hosting;

/// <summary>
/// Requests Kestrel refuses before any middleware runs, sent as raw bytes to a small app built with the real service
/// defaults on a real Kestrel socket: every refusal must carry the usual JSON problem, and the responses before it
/// on the same connection must be untouched.
/// </summary>
public sealed class KestrelRejectionTests : IAsyncLifetime
{
    private const string JobPath = "/api/jobs/job-1";
    private readonly string _folder = Directory.CreateTempSubdirectory("dc-kestrel-").FullName;
    private readonly int _port = TestPorts.GetFreeTcpPort();
    private WebApplication _app = null!;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public sealed record ShotRequest(string WorkflowId, int Steps);

    public static TheoryData<MalformedHttpRequest> Malformed => new(MalformedHttpRequest.All(JobPath, JobPath));

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.WebHost.UseKestrel().UseUrls($"http://127.0.0.1:{_port}");
        builder.Configuration["ORCHESTRATOR_CONFIG"] = Path.Combine(_folder, "config.yaml");
        builder.Configuration["log_dir"] = Path.Combine(_folder, "logs");
        builder.Configuration["ConnectionStrings:redis"] = "127.0.0.1:1,connectTimeout=200,syncTimeout=500";
        builder.AddServiceDefaults("kestrel-test");
        _app = builder.Build();
        _app.MapDefaultEndpoints();
        _app.MapGet("/api/jobs/{id}", (string id) => TypedResults.Ok(new { job_id = id }));
        _app.MapPost("/api/jobs/{id}", async (string id, HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body);
            return TypedResults.Ok(new { job_id = id, received = (await reader.ReadToEndAsync(request.HttpContext.RequestAborted)).Length });
        });
        _app.MapPost("/api/shots", (ShotRequest shot) => TypedResults.Ok(shot));
        await _app.StartAsync(Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task RefusedRequestAnswersAProblemWithDetail(MalformedHttpRequest malformed)
    {
        // Act
        var responses = await RawHttp.ExchangeAsync(_port, malformed.Bytes, Token);

        // Assert
        var refusal = Assert.Single(responses);
        AssertProblem(refusal, malformed.Status, malformed.DetailContains);
    }

    [Fact]
    public async Task PipelinedRequestsBeforeARefusedOneGetTheirNormalAnswers()
    {
        // Arrange: two good requests and a bad one in a single write, as a pipelining client sends them.
        var request = Encoding.ASCII.GetBytes(
            $"GET {JobPath} HTTP/1.1\r\nHost: localhost\r\n\r\n" +
            $"POST /api/jobs/job-2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello" +
            $"GET {JobPath}/%00 HTTP/1.1\r\nHost: localhost\r\n\r\n");

        // Act
        var responses = await RawHttp.ExchangeAsync(_port, request, Token);

        // Assert
        Assert.Equal(3, responses.Count);
        Assert.Equal(200, responses[0].Status);
        Assert.Equal("job-1", (string?)responses[0].Json()?["job_id"]);
        Assert.Equal(200, responses[1].Status);
        Assert.Equal(5, (int?)responses[1].Json()?["received"]);
        AssertProblem(responses[2], 400, "NUL");
    }

    [Fact]
    public async Task KeptAliveConnectionAnswersEachRequestThenTheRefusal()
    {
        // Arrange: the bad request arrives in its own write, after the good answer went out.
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, _port, Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {JobPath} HTTP/1.1\r\nHost: localhost\r\n\r\n"), Token);
        var first = new byte[4096];
        var read = 0;
        do
        {
            read += await stream.ReadAsync(first.AsMemory(read), Token);
        }
        while (first.AsSpan(0, read).IndexOf("job-1"u8) < 0);

        // Act
        await stream.WriteAsync(Encoding.ASCII.GetBytes("G(T / HTTP/1.1\r\nHost: localhost\r\n\r\n"), Token);
        var rest = new MemoryStream();
        await stream.CopyToAsync(rest, Token);

        // Assert
        var responses = RawHttp.Parse([.. first.AsSpan(0, read), .. rest.ToArray()]);
        Assert.Equal(2, responses.Count);
        Assert.Equal(200, responses[0].Status);
        AssertProblem(responses[1], 400, "request line");
    }

    [Fact]
    public async Task BrokenChunkedBodyOfABoundJsonParameterIs400WithDetail()
    {
        // Arrange: the endpoint binds the body as JSON, so the framing error surfaces while binding, where minimal
        // APIs answer a bare 400 that the status code pages give a generic detail.
        var request = Encoding.ASCII.GetBytes(
            "POST /api/shots HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
            "2\r\n{\"\r\nZZ\r\n}\r\n0\r\n\r\n");

        // Act
        var responses = await RawHttp.ExchangeAsync(_port, request, Token);

        // Assert
        AssertProblem(Assert.Single(responses), 400, "Bad Request");
    }

    [Fact]
    public async Task RequestTheAppRefusesKeepsItsOwnAnswer()
    {
        // Arrange: a 40 KB header is within Kestrel's limit and over the suite's own, which the request guard answers.
        var request = Encoding.ASCII.GetBytes($"GET {JobPath} HTTP/1.1\r\nHost: localhost\r\nX-Big: {new string('b', 40 * 1024)}\r\nConnection: close\r\n\r\n");

        // Act
        var responses = await RawHttp.ExchangeAsync(_port, request, Token);

        // Assert
        var answer = Assert.Single(responses);
        AssertProblem(answer, 431, "request headers total");
    }

    private static void AssertProblem(RawHttpResponse response, int status, string detailContains)
    {
        Assert.True(status == response.Status, $"expected {status}, got {response}");
        Assert.StartsWith("application/problem+json", response.ContentType);
        var problem = response.Json();
        Assert.NotNull(problem);
        Assert.Equal(status, (int?)problem["status"]);
        var detail = (string?)problem["detail"];
        Assert.False(string.IsNullOrWhiteSpace(detail), response.ToString());
        Assert.Contains(detailContains, detail, StringComparison.OrdinalIgnoreCase);
    }
}
