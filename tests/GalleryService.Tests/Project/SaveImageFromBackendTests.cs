using System.Net;
using System.Net.Http.Json;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Project;

/// <summary>A stand-in ComfyUI <c>/view</c> on a loopback port, registered in <c>dc:backends</c> as BackendService does.</summary>
public sealed class BackendEnvironment : ProjectEnvironment
{
    public static readonly byte[] Render = TestPng.WithPrompt("from the backend");

    private WebApplication? _backend;

    public int BackendPort { get; private set; }

    public List<string> Requests { get; } = [];

    /// <summary>What a render agent uploaded, as BackendService serves it at the agent backend's <c>/view</c>.</summary>
    public static readonly byte[] AgentRender = TestPng.WithPrompt("from a render agent");

    public override async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _backend = builder.Build();
        _backend.MapGet("/view", (HttpRequest request) =>
        {
            lock (Requests)
            {
                Requests.Add(request.QueryString.Value ?? "");
            }

            return request.Query["filename"] == "ComfyUI_00001_.png" ? Results.Bytes(Render, "image/png") : Results.NotFound();
        });
        // The same stand-in plays BackendService, which keeps a render agent's outputs.
        _backend.MapGet("/api/backends/{id}/view", (string id, HttpRequest request) =>
            id == "agent-1" && request.Query["filename"] == "run_00001_.png" ? Results.Bytes(AgentRender, "image/png") : Results.NotFound());
        await _backend.StartAsync(TestContext.Current.CancellationToken);
        BackendPort = new Uri(_backend.Urls.First()).Port;
        // Read by service discovery when the service starts (the AppHost gives GalleryService backend-service's addresses).
        Environment.SetEnvironmentVariable("services__backend-service__http__0", _backend.Urls.First());
        await base.InitializeAsync();
        var redis = Service.Services.GetRequiredService<IRedisConnection>();
        await redis.HashSetAsync(BackendDirectoryKeys.Definitions, "node-1",
            $$"""{"id":"node-1","name":"Node 1","host":"127.0.0.1","port":{{BackendPort}},"enabled":true,"capabilities":[],"max_concurrent_jobs":1,"tags":[],"source":"api"}""",
            TestContext.Current.CancellationToken);
        await redis.HashSetAsync(BackendDirectoryKeys.Definitions, "agent-1",
            """{"id":"agent-1","name":"Agent 1","host":"","port":0,"enabled":true,"capabilities":[],"max_concurrent_jobs":1,"tags":[],"source":"agent","kind":"agent"}""",
            TestContext.Current.CancellationToken);
    }

    public override async ValueTask DisposeAsync()
    {
        Environment.SetEnvironmentVariable("services__backend-service__http__0", null);
        if (_backend is not null)
        {
            await _backend.DisposeAsync();
        }

        await base.DisposeAsync();
    }
}

public sealed class SaveImageFromBackendTests(BackendEnvironment environment) : IClassFixture<BackendEnvironment>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SavesFromTheBackendsOwnViewUrlPassingOnlyTheViewParameters()
    {
        // Arrange
        var url = $"http://127.0.0.1:{environment.BackendPort}/view?filename=ComfyUI_00001_.png&subfolder=&type=output&extra=../../etc";

        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/save-image",
            new { imageUrl = url, folderPath = environment.ProjectFolder, filename = "Panel_01/Eliot_Panel01_v010.png" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(BackendEnvironment.Render, await File.ReadAllBytesAsync(Path.Combine(environment.ProjectFolder, "Panel_01", "Eliot_Panel01_v010.png"), Ct));
        lock (environment.Requests)
        {
            Assert.Contains(environment.Requests, q => q.Contains("filename=ComfyUI_00001_.png", StringComparison.Ordinal) && !q.Contains("extra", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task SavesFromABackendServiceViewUrlByBackendId()
    {
        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/save-image",
            new { image_url = "/api/backends/node-1/view?filename=ComfyUI_00001_.png&type=output", folder_path = environment.ProjectFolder, filename = "by-id.png" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(BackendEnvironment.Render, await File.ReadAllBytesAsync(Path.Combine(environment.ProjectFolder, "by-id.png"), Ct));
    }

    [Fact]
    public async Task SavesARenderAgentsOutputFromBackendServiceWhichKeepsIt()
    {
        // Act: the url a render event gives an agent's output.
        using var response = await environment.Client.PostAsJsonAsync("/api/save-image",
            new { image_url = "/api/backends/agent-1/view?filename=run_00001_.png&subfolder=&type=output", folder_path = environment.ProjectFolder, filename = "from-agent.png" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(BackendEnvironment.AgentRender, await File.ReadAllBytesAsync(Path.Combine(environment.ProjectFolder, "from-agent.png"), Ct));
    }

    [Fact]
    public async Task ABackendErrorIsABadGatewayAndLeavesNoFileOrFolder()
    {
        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/save-image",
            new { imageUrl = $"http://127.0.0.1:{environment.BackendPort}/view?filename=missing.png", folderPath = environment.ProjectFolder, filename = "New_Panel/missing.png" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.NotNull((string?)(await ProjectEnvironment.ReadJsonAsync(response))["detail"]);
        Assert.False(Directory.Exists(Path.Combine(environment.ProjectFolder, "New_Panel")));
    }

    [Fact]
    public async Task AnotherPortOfTheSameHostIsNotTheBackend()
    {
        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/save-image",
            new { imageUrl = $"http://127.0.0.1:{environment.BackendPort + 1}/view?filename=ComfyUI_00001_.png", folderPath = environment.ProjectFolder, filename = "other-port.png" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.False(File.Exists(Path.Combine(environment.ProjectFolder, "other-port.png")));
    }

    [Theory]
    [InlineData("filename=../../etc/passwd&type=output")]
    [InlineData("filename=ComfyUI_00001_.png&subfolder=../../etc&type=output")]
    [InlineData("filename=ComfyUI_00001_.png&subfolder=%2Fetc&type=output")]
    [InlineData("filename=ComfyUI_00001_.png&type=..%2F..%2Fetc")]
    public async Task AViewUrlWhoseFileIsNotAPlainNameIs422AndNeverReachesTheBackend(string query)
    {
        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/save-image",
            new { imageUrl = $"/api/backends/node-1/view?{query}", folderPath = environment.ProjectFolder, filename = "traversal.png" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("plain filename", (string?)(await ProjectEnvironment.ReadJsonAsync(response))["detail"], StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(environment.ProjectFolder, "traversal.png")));
        lock (environment.Requests)
        {
            Assert.DoesNotContain(environment.Requests, q => q.Contains("etc", StringComparison.Ordinal));
        }
    }
}
