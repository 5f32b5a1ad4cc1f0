using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

[assembly: AssemblyFixture(typeof(GarnetFixture))]

namespace DirectorsConsole.Gateway.Tests;

/// <summary>
/// A gateway on a real Kestrel port (WebSockets need one) in front of real services: two replicas of
/// job-service and one of each other service. Each test class that uses it gets its own, so a class may
/// stop and start replicas.
/// </summary>
public sealed class GatewayFixture(GarnetFixture garnet) : IAsyncLifetime
{
    /// <summary>Small, so the 413 test needs only a small body.</summary>
    public const int MaxRequestBodyMb = 1;

    /// <summary>Short, so the 504 test is quick.</summary>
    public const int UpstreamTimeoutSeconds = 2;

    /// <summary>Short, so a test of a service that stays down is quick.</summary>
    public const int RestartHoldSeconds = 1;

    /// <summary>The shared worker token this gateway knows (by its digest), for the render agents' routes.</summary>
    public const string WorkerToken = "shared-worker-token-9d1e4c7a2b";

    private ServiceFactory<Program>? _gateway;

    public IReadOnlyList<FakeService> Replicas { get; private set; } = [];

    public FakeService Replica(string service, int replica = 0) => Replicas.Single(r => r.Name == service && r.Replica == replica);

    public HttpClient Client { get; private set; } = null!;

    public Uri GatewayAddress => Client.BaseAddress!;

    public IServiceProvider Services => _gateway!.Services;

    public async ValueTask InitializeAsync()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        Replicas = await Task.WhenAll(
            FakeService.StartAsync("job-service", 0, cancellationToken),
            FakeService.StartAsync("job-service", 1, cancellationToken),
            FakeService.StartAsync("backend-service", 0, cancellationToken),
            FakeService.StartAsync("gallery-service", 0, cancellationToken),
            FakeService.StartAsync("path-service", 0, cancellationToken));

        var settings = Replicas.ToDictionary(
            replica => $"services:{replica.Name}:http:{replica.Replica}",
            replica => (string?)replica.Address.ToString());
        settings["max_request_body_mb"] = MaxRequestBodyMb.ToString();
        settings["upstream_timeout_seconds"] = UpstreamTimeoutSeconds.ToString();
        settings["restart_hold_seconds"] = RestartHoldSeconds.ToString();
        settings["worker_token_sha256"] = DirectorsConsole.ServiceDefaults.Access.ClientTokenDigest.Hex(WorkerToken);
        (_gateway, Client) = StartGateway(garnet, settings);
    }

    /// <summary>Starts the gateway on Kestrel at a free loopback port with these settings.</summary>
    public static (ServiceFactory<Program> Factory, HttpClient Client) StartGateway(
        GarnetFixture garnet, Dictionary<string, string?> settings, Action<IServiceCollection>? configureServices = null)
    {
        settings["urls"] = "http://127.0.0.1:0";
        var factory = new ServiceFactory<Program>(garnet.ConnectionString, settings, configureServices);
        factory.UseKestrel();
        factory.StartServer();
        var address = factory.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return (factory, new HttpClient { BaseAddress = new Uri(address) });
    }

    public async Task<JsonObject> GetJsonAsync(string path)
    {
        var body = await Client.GetFromJsonAsync<JsonObject>(path, TestContext.Current.CancellationToken);
        return body ?? throw new InvalidOperationException($"{path} returned no JSON.");
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        foreach (var replica in Replicas)
        {
            await replica.DisposeAsync();
        }
    }
}
