using System.Text.Json.Nodes;
using System.Text.Json;
using DirectorsConsole.JobService.Tests.Engine;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.JobService.Tests.Api;

/// <summary>
/// One JobService on a private Garnet with no BackendService: the backend registry is written into Redis as
/// BackendService writes it (<see cref="BackendDirectoryKeys"/>), so validation sees exactly the backends a test needs —
/// online, offline, disabled, with or without capabilities — and nothing renders, so accepted jobs stay queued.
/// The workflow library is a temporary folder holding <see cref="WorkflowId"/> with a sidecar that declares
/// <see cref="WorkflowEndpoint"/>.
/// </summary>
public sealed class ApiFixture : IAsyncLifetime
{
    public const string Online = "api-online";
    public const string OnlineFlux = "api-online-flux";
    public const string Offline = "api-offline";
    public const string Disabled = "api-disabled";
    public const string WorkflowId = "api_progress";
    public const string WorkflowEndpoint = "jobs/progress_flow";

    private readonly string _workflows = Directory.CreateTempSubdirectory("dc-workflows-").FullName;
    private RedisServerProcess? _garnet;

    public ServiceFactory<Program> Service { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _garnet = await RedisServerProcess.StartGarnetAsync(cancellationToken: TestContext.Current.CancellationToken);
        await WriteEndpointWorkflowAsync(_workflows);
        Service = new ServiceFactory<Program>(_garnet.ConnectionString, new Dictionary<string, string?> { ["workflows_dir"] = _workflows });
        var redis = Service.Services.GetRequiredService<IRedisConnection>();
        await AddBackendAsync(redis, Online, enabled: true, BackendStatuses.Idle, []);
        await AddBackendAsync(redis, OnlineFlux, enabled: true, BackendStatuses.Busy, ["flux"]);
        await AddBackendAsync(redis, Offline, enabled: true, BackendStatuses.Offline, ["flux"]);
        await AddBackendAsync(redis, Disabled, enabled: false, BackendStatuses.Disabled, []);
    }

    public HttpClient CreateClient() => Service.CreateClient();

    /// <summary>Writes <see cref="WorkflowId"/> (TestProgressImage → SaveImage) with a sidecar that binds <c>steps</c>
    /// and <c>resolution</c> and declares <see cref="WorkflowEndpoint"/> into <paramref name="folder"/>.</summary>
    public static async Task WriteEndpointWorkflowAsync(string folder)
    {
        await File.WriteAllTextAsync(Path.Combine(folder, WorkflowId + ".json"), EngineRig.Prompt(3, 10).ToJsonString());
        await File.WriteAllTextAsync(Path.Combine(folder, WorkflowId + ".yaml"), $"""
            name: Progress test
            parameters:
              steps: 1.steps
              resolution: [1.width, 1.height]
            seed_nodes: [1]
            endpoint: {WorkflowEndpoint}
            """);
    }

    /// <summary>A valid group request over <paramref name="backendIds"/>; tests change one field at a time.</summary>
    public static JsonObject GroupRequest(params string[] backendIds) => new()
    {
        ["workflow_json"] = EngineRig.Prompt(3, 10),
        ["backend_ids"] = new JsonArray(backendIds.Select(id => (JsonNode)id).ToArray()),
        ["seed_strategy"] = "sequential",
        ["base_seed"] = 100,
        ["metadata"] = new JsonObject { ["panel_id"] = 3, ["scene"] = "shot_001" },
    };

    internal static async Task AddBackendAsync(IRedisConnection redis, string id, bool enabled, string status, IReadOnlyList<string> capabilities)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var definition = new BackendDefinition(id, id, "127.0.0.1", 1, enabled, capabilities, 1, [], BackendSource.Api);
        var state = new BackendRuntimeState(id, status, DateTimeOffset.UtcNow) { LastSeen = DateTimeOffset.UtcNow };
        await redis.HashSetAsync(BackendDirectoryKeys.Definitions, id, JsonSerializer.Serialize(definition, BackendDirectory.Json), cancellationToken);
        await redis.HashSetAsync(BackendDirectoryKeys.States, id, JsonSerializer.Serialize(state, BackendDirectory.Json), cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await Service.DisposeAsync();
        if (_garnet is not null)
        {
            await _garnet.DisposeAsync();
        }

        Directory.Delete(_workflows, recursive: true);
    }
}
