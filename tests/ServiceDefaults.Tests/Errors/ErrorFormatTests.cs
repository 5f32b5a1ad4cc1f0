using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.ServiceDefaults.Errors;
using DirectorsConsole.Messaging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Hosting;

namespace DirectorsConsole.ServiceDefaults.Tests.Errors;

/// <summary>A small app built with the real service defaults, on the in-memory test server.</summary>
public sealed class ErrorFormatTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("dc-errors-").FullName;
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public sealed record ShotRequest(string WorkflowId, int Steps);

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.WebHost.UseTestServer();
        builder.Configuration["ORCHESTRATOR_CONFIG"] = Path.Combine(_folder, "config.yaml");
        builder.Configuration["log_dir"] = Path.Combine(_folder, "logs");
        // Nothing listens on port 1: the service starts anyway and reports Redis as unhealthy.
        builder.Configuration["ConnectionStrings:redis"] = "127.0.0.1:1,connectTimeout=200,syncTimeout=500";
        builder.AddServiceDefaults("error-test");
        _app = builder.Build();
        _app.MapDefaultEndpoints();
        _app.MapPost("/shots", (ShotRequest request) => TypedResults.Ok(request));
        _app.MapPost("/validated", () =>
            TypedResults.UnprocessableEntity(new ValidationErrorList().Missing(new JsonObject(), "body", "workflow_id").ToResponse()));
        _app.MapGet("/needs-redis", async (IRedisConnection redis) => await redis.StringGetAsync("anything"));
        _app.MapGet("/explode", string () => throw new InvalidOperationException("secret internals"));
        // Routes whose original clients read success and message in every reply, errors included.
        var original = _app.MapGroup("/original").WithSuccessFlagErrors();
        original.MapPost("/shots", (ShotRequest request) => TypedResults.Ok(request));
        original.MapGet("/shots/{id}", (string id) => TypedResults.Problem($"Shot '{id}' not found", statusCode: StatusCodes.Status404NotFound));
        original.MapGet("/explode", string () => throw new InvalidOperationException("secret internals"));
        await _app.StartAsync(TestContext.Current.CancellationToken);
        _client = _app.GetTestClient();
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task MalformedJsonBodyIs422WithFastApiShape()
    {
        // Act
        using var response = await _client.PostAsync("/shots",
            new StringContent("{\"workflowId\": \"a\", \"steps\": \"many\"}", Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var detail = (await ReadJsonAsync(response))["detail"]!.AsArray();
        var error = Assert.Single(detail)!;
        Assert.Equal("json_invalid", (string?)error["type"]);
        Assert.Equal(["body", "steps"], error["loc"]!.AsArray().Select(n => n!.ToString()));
        Assert.Contains("'steps'", (string?)error["msg"]);
        Assert.DoesNotContain("System.", (string?)error["msg"]);
    }

    [Theory]
    [InlineData("application/json; charset=bogus", "bogus")]
    [InlineData("application/json; charset=\"\"", "")]
    [InlineData("application/problem+json; charset=x-unknown", "x-unknown")]
    public async Task JsonBodyInAnUnknownCharsetIs415WithDetail(string contentType, string charset)
    {
        // Arrange
        using var content = new StringContent("{\"workflowId\": \"a\", \"steps\": 1}");
        content.Headers.Remove("Content-Type");
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);

        // Act
        using var response = await _client.PostAsync("/shots", content, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Contains($"'{charset}'", (string?)(await ReadJsonAsync(response))["detail"]);
    }

    [Fact]
    public async Task JsonBodyInAnotherKnownCharsetIsRead()
    {
        // Arrange
        using var content = new StringContent("{\"workflowId\": \"é\", \"steps\": 2}", Encoding.Unicode, "application/json");

        // Act
        using var response = await _client.PostAsync("/shots", content, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("é", (string?)(await ReadJsonAsync(response))["workflowId"]);
    }

    [Fact]
    public async Task OverLongRequestTargetIs414WithDetail()
    {
        // Act
        using var response = await _client.GetAsync("/shots?pad=" + new string('a', 9_000), TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.RequestUriTooLong, response.StatusCode);
        Assert.Contains("at most 8192", (string?)(await ReadJsonAsync(response))["detail"]);
    }

    [Fact]
    public async Task MissingBodyIs422Missing()
    {
        // Act
        using var response = await _client.PostAsync("/shots",
            new StringContent("", Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = Assert.Single((await ReadJsonAsync(response))["detail"]!.AsArray())!;
        Assert.Equal("missing", (string?)error["type"]);
        Assert.Equal("body", (string?)error["loc"]![0]);
    }

    [Fact]
    public async Task ValidationErrorListMatchesSpec01Example()
    {
        // Act
        using var response = await _client.PostAsync("/validated", null, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var expected = JsonNode.Parse("""{"detail":[{"type":"missing","loc":["body","workflow_id"],"msg":"Field required","input":{}}]}""");
        Assert.True(JsonNode.DeepEquals(expected, await ReadJsonAsync(response)));
    }

    [Fact]
    public async Task UnknownRouteIs404WithDetail()
    {
        // Act
        using var response = await _client.GetAsync("/nowhere", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("No endpoint matches GET /nowhere.", (string?)(await ReadJsonAsync(response))["detail"]);
    }

    [Fact]
    public async Task ErrorsOfRoutesMarkedForTheOriginalsClientsAlsoCarrySuccessFalseAndMessage()
    {
        // Act
        using var missing = await _client.GetAsync("/original/shots/sh010", TestContext.Current.CancellationToken);
        using var exploded = await _client.GetAsync("/original/explode", TestContext.Current.CancellationToken);
        using var malformed = await _client.PostAsync("/original/shots",
            new StringContent("{\"workflowId\": \"a\", \"steps\": \"many\"}", Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);
        using var unmarked = await _client.GetAsync("/explode", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var problem = await ReadJsonAsync(missing);
        Assert.False((bool)problem["success"]!);
        Assert.Equal("Shot 'sh010' not found", (string?)problem["message"]);
        Assert.Equal("Shot 'sh010' not found", (string?)problem["detail"]);
        Assert.Equal(HttpStatusCode.InternalServerError, exploded.StatusCode);
        var failure = await ReadJsonAsync(exploded);
        Assert.False((bool)failure["success"]!);
        Assert.DoesNotContain("secret", (string?)failure["message"], StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, malformed.StatusCode);
        var invalid = await ReadJsonAsync(malformed);
        Assert.Equal("json_invalid", (string?)Assert.Single(invalid["detail"]!.AsArray())!["type"]);
        Assert.False((bool)invalid["success"]!);
        Assert.StartsWith("steps: ", (string?)invalid["message"], StringComparison.Ordinal);
        Assert.Null((await ReadJsonAsync(unmarked))["success"]);
    }

    [Fact]
    public async Task UnhandledExceptionIs500WithoutInternals()
    {
        // Act
        using var response = await _client.GetAsync("/explode", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var body = await ReadJsonAsync(response);
        Assert.Contains("trace id", (string?)body["detail"]);
        Assert.DoesNotContain("secret internals", body.ToJsonString());
        Assert.NotNull(body["traceId"]);
    }

    [Fact]
    public async Task RedisOutageIs503WithDetail()
    {
        // Act
        using var response = await _client.GetAsync("/needs-redis", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("Redis", (string?)(await ReadJsonAsync(response))["detail"]);
        Assert.True(response.Headers.Contains("Retry-After"));
    }

    [Fact]
    public async Task HealthIsUnavailableWhileRedisIsDownButServiceIsAlive()
    {
        // Act
        using var health = await _client.GetAsync("/health", TestContext.Current.CancellationToken);
        using var alive = await _client.GetAsync("/alive", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.True(health.Headers.Contains("Retry-After"));
        var body = await ReadJsonAsync(health);
        Assert.Equal("unhealthy", (string?)body["status"]);
        Assert.Equal("error-test", (string?)body["service"]);
        Assert.Equal("unhealthy", (string?)body["checks"]!["redis"]!["status"]);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }

    [Fact]
    public async Task OpenApiDocumentIsServed()
    {
        // Act
        var document = await _client.GetFromJsonAsync<JsonObject>("/openapi/v1.json", TestContext.Current.CancellationToken);

        // Assert
        Assert.NotNull(document!["paths"]!["/shots"]);
        Assert.Equal("error-test", (string?)document["info"]!["title"]);
    }

    private static async Task<JsonNode> ReadJsonAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))
        ?? throw new JsonException("empty body");
}
