using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DirectorsConsole.ServiceDefaults.Tests.Hosting;

/// <summary>What the service defaults give every HttpClient: service discovery and the standard resilience
/// handler, which a client opts out of with <c>WithoutRetries</c>. The network is a stub that records each
/// attempt and answers 503 to the first.</summary>
public sealed class OutgoingHttpTests : IAsyncLifetime
{
    private const string RetriedClient = "retried";
    private const string NeverRetriedClient = "never-retried";

    private readonly string _folder = Directory.CreateTempSubdirectory("dc-http-").FullName;
    private readonly ConcurrentQueue<Uri> _attempts = new();
    private WebApplication _app = null!;

    public ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Configuration["ORCHESTRATOR_CONFIG"] = Path.Combine(_folder, "config.yaml");
        builder.Configuration["log_dir"] = Path.Combine(_folder, "logs");
        builder.Configuration["ConnectionStrings:redis"] = "127.0.0.1:1,connectTimeout=200,syncTimeout=500";
        builder.Configuration["services:path-service:http:0"] = "http://127.0.0.1:5999";
        builder.AddServiceDefaults("http-test");
        builder.Services.AddHttpClient(RetriedClient).ConfigurePrimaryHttpMessageHandler(() => new FirstAttemptFails(_attempts));
        builder.Services.AddHttpClient(NeverRetriedClient).ConfigurePrimaryHttpMessageHandler(() => new FirstAttemptFails(_attempts)).WithoutRetries();
        _app = builder.Build();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task AServiceNameIsResolvedAndATransientFailureRetried()
    {
        // Arrange
        using var client = _app.Services.GetRequiredService<IHttpClientFactory>().CreateClient(RetriedClient);

        // Act
        using var response = await client.GetAsync("http://path-service/api/path-mappings", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _attempts.Count);
        Assert.All(_attempts, attempt => Assert.Equal("http://127.0.0.1:5999/api/path-mappings", attempt.ToString()));
    }

    [Fact]
    public async Task AClientThatOptedOutSendsItsRequestOnce()
    {
        // Arrange
        using var client = _app.Services.GetRequiredService<IHttpClientFactory>().CreateClient(NeverRetriedClient);

        // Act
        using var response = await client.PostAsync("http://127.0.0.1:5998/prompt", new StringContent("{}"), TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Single(_attempts);
    }

    /// <summary>Answers 503 to the first request it sees and 200 to the rest.</summary>
    private sealed class FirstAttemptFails(ConcurrentQueue<Uri> attempts) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            attempts.Enqueue(request.RequestUri!);
            var status = attempts.Count == 1 ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK;
            return Task.FromResult(new HttpResponseMessage(status));
        }
    }
}
