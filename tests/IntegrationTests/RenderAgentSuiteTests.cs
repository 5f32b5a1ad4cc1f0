using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// The suite started with <c>--agents 2</c>: the two emulated nodes run behind render agents that pull their work
/// through the Gateway, and the suite is never given the nodes' addresses. The previews the agents relay reach the
/// group's WebSocket through the Gateway as <c>child_preview</c> messages (transient: no sequence).
/// </summary>
public sealed class RenderAgentSuiteTests : IAsyncLifetime
{
    private static readonly string[] Agents = ["render-agent-0", "render-agent-1"];

    private readonly string _workingDirectory = Directory.CreateTempSubdirectory("dc-agents-").FullName;
    private SuiteApp _suite = null!;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _suite = await SuiteApp.StartAsync(_workingDirectory, ["--agents", "2"], Token);

    public async ValueTask DisposeAsync()
    {
        if (_suite is not null)
        {
            await _suite.DisposeAsync();
        }

        Directory.Delete(_workingDirectory, recursive: true);
    }

    [Fact]
    public async Task AGroupCompletesOnTwoAgentBackedNodesWithPreviewsAndOutputsFetchedThroughTheGateway()
    {
        // Arrange: the two agents registered; the suite knows no other backend and was not told where the nodes are
        var backends = await AgentsOnlineAsync();
        var model = _suite.App.Services.GetRequiredService<DistributedApplicationModel>();
        var emulators = model.Resources.OfType<ProjectResource>().Where(r => r.Name.StartsWith("comfy-emulator-", StringComparison.Ordinal)).ToArray();
        var backendService = model.Resources.OfType<ProjectResource>().Single(r => r.Name == "backend-service");
        var backendEnvironment = await ExecutionConfigurationBuilder.Create(backendService).WithEnvironmentVariablesConfig()
            .BuildAsync(_suite.App.Services.GetRequiredService<DistributedApplicationExecutionContext>(), NullLogger.Instance, Token);

        // Act: a group over both agents, watched through the Gateway (each prompt's preview comes after its 16 steps, so
        // the socket is open by then)
        using var created = await _suite.Gateway.PostAsJsonAsync("/api/job-group", new
        {
            workflow_json = TestPrompts.ProgressWithPreview(16, 100, "agents/group", 1, 32),
            backend_ids = Agents,
            seed_strategy = "fibonacci",
            base_seed = 1000,
        }, Token);
        var body = await created.Content.ReadAsStringAsync(Token);
        Assert.True(created.StatusCode == HttpStatusCode.Created, body);
        var id = (string)JsonNode.Parse(body)!["job_group_id"]!;
        using var stream = await GatewaySockets.ConnectAsync(_suite, $"/ws/job-groups/{id}");
        var messages = await GatewaySockets.ReceiveUntilAsync(stream, "group_complete");
        await GatewaySockets.CloseAsync(stream);
        var group = await _suite.Gateway.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token);

        // Assert: the suite never had the nodes' addresses
        Assert.Equal(2, emulators.Length);
        Assert.DoesNotContain(backendEnvironment.EnvironmentVariables, e => e.Key == "ORCHESTRATOR_COMFY_NODES");
        Assert.Equal(Agents, backends.Select(b => (string)b["id"]!).Order());
        Assert.All(backends, b => Assert.Equal("agent", (string?)b["kind"]));
        // Completed on both agent-backed nodes, their progress and their previews on the group's stream
        Assert.Equal("completed", (string?)group!["status"]);
        var children = group["child_jobs"]!.AsArray().Select(c => c!.AsObject()).ToArray();
        Assert.Equal(Agents, children.Select(c => (string)c["backend_id"]!).Order());
        var types = messages.Select(m => (string?)m["type"]).ToList();
        Assert.Equal(2, types.Count(t => t == "child_completed"));
        Assert.Contains("child_progress", types);
        foreach (var child in children)
        {
            Assert.True(messages.Any(m => (string?)m["type"] == "child_preview" && (string?)m["job_group_id"] == id
                && (string?)m["job_id"] == (string?)child["job_id"] && (string?)m["backend_id"] == (string?)child["backend_id"]
                && m["sequence"] is null && ((string?)m["image"])?.StartsWith("data:image/png;base64,", StringComparison.Ordinal) == true),
                $"No child_preview of {child["job_id"]}; got: {string.Join(", ", messages.Select(m => $"{m["type"]} {m["job_id"]}"))}");
        }

        // Each output fetched through the Gateway's /view is the node's own file
        foreach (var child in group["child_jobs"]!.AsArray())
        {
            var job = await _suite.Gateway.GetFromJsonAsync<JsonObject>($"/api/jobs/{(string)child!["job_id"]!}", Token);
            var image = job!["outputs"]!["images"]![0]!;
            var query = $"filename={Uri.EscapeDataString((string)image["filename"]!)}&subfolder={Uri.EscapeDataString((string?)image["subfolder"] ?? "")}&type={(string?)image["type"] ?? "output"}";
            using var viaGateway = await _suite.Gateway.GetAsync($"/api/backends/{job["backend_id"]}/view?{query}", Token);
            Assert.Equal(HttpStatusCode.OK, viaGateway.StatusCode);
            var bytes = await viaGateway.Content.ReadAsByteArrayAsync(Token);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes.Take(4).ToArray());
            var node = emulators[Array.IndexOf(Agents, (string)job["backend_id"]!)];
            var nodePort = Assert.Single(node.Annotations.OfType<EndpointAnnotation>()).Port;
            using var direct = new HttpClient();
            Assert.Equal(await direct.GetByteArrayAsync($"http://127.0.0.1:{nodePort}/view?{query}", Token), bytes);
        }
    }

    private async Task<JsonObject[]> AgentsOnlineAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        JsonObject? list;
        do
        {
            list = await _suite.Gateway.GetFromJsonAsync<JsonObject>("/api/backends", Token);
            var backends = list!["backends"]!.AsArray().Select(b => b!.AsObject()).ToArray();
            if (backends.Count(b => (bool?)b["online"] == true && Agents.Contains((string?)b["id"])) == Agents.Length)
            {
                return backends;
            }

            await Task.Delay(250, Token);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"The two agents did not come online: {list?.ToJsonString()}\n{_suite.Output}");
    }
}
