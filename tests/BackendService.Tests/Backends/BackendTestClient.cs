using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.BackendService.Tests.Backends;

/// <summary>Helpers the backend tests share.</summary>
internal static class BackendTestClient
{
    /// <summary>Probes and leases fast enough for tests to see changes within seconds.</summary>
    public static readonly IReadOnlyDictionary<string, string?> FastSettings = new Dictionary<string, string?>
    {
        ["Backends:Probe:Interval"] = "00:00:00.5",
        ["Backends:Probe:Timeout"] = "00:00:01",
        ["Backends:Leases:Ttl"] = "00:00:04",
        ["Backends:Leases:RenewalInterval"] = "00:00:01",
    };

    /// <summary>A short random token, so tests sharing one Redis never collide on ids.</summary>
    public static string Unique() => Guid.NewGuid().ToString("N")[..10];

    public static ServiceFactory<Program> CreateFactory(
        GarnetFixture garnet, IReadOnlyDictionary<string, string?>? extra = null, Action<IServiceCollection>? configureServices = null)
    {
        var settings = new Dictionary<string, string?>(FastSettings);
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return new ServiceFactory<Program>(garnet.ConnectionString, settings, configureServices);
    }

    /// <summary>A loopback port nothing listens on, so a backend there is offline at once (connection refused).</summary>
    public static int DeadPort() => TestPorts.GetFreeTcpPort();

    public static async Task<JsonNode> ReadJsonAsync(this HttpResponseMessage response, CancellationToken cancellationToken) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))
        ?? throw new InvalidOperationException("The response body is JSON null.");

    public static async Task<JsonNode> CreateBackendAsync(this HttpClient client, object body, CancellationToken cancellationToken)
    {
        using var response = await client.PostAsJsonAsync("/api/backends", body, cancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync(cancellationToken));
        return await response.ReadJsonAsync(cancellationToken);
    }

    public static async Task<JsonNode?> GetBackendAsync(this HttpClient client, string id, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync($"/api/backends/{id}", cancellationToken);
        return response.StatusCode == HttpStatusCode.NotFound ? null : await response.ReadJsonAsync(cancellationToken);
    }

    public static async Task<string?> GetStatusAsync(this HttpClient client, string id, CancellationToken cancellationToken) =>
        (string?)(await client.GetBackendAsync(id, cancellationToken))?["status"];
}
