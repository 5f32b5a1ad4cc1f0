using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Gateway.Routing;
using DirectorsConsole.ServiceDefaults.Hosting;

namespace DirectorsConsole.Gateway.Health;

/// <summary>
/// Asks every replica of every service for its <c>/health</c> at the same time. A service is healthy when
/// at least one replica is, since the proxy routes around the others. Never throws for a service's
/// failure: the gateway answers 200 as long as it can answer at all.
/// </summary>
public sealed class SuiteHealthChecker(
    IHttpClientFactory httpClientFactory,
    SuiteTopology topology,
    ServiceIdentity identity,
    TimeProvider timeProvider,
    ILogger<SuiteHealthChecker> logger)
{
    /// <summary>The name the original reported; clients of API doc 3 compare it.</summary>
    public const string SuiteServiceName = "orchestrator-api";

    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    public async Task<SuiteHealth> CheckAsync(CancellationToken cancellationToken)
    {
        var probes = topology.Services.Select(async service =>
            (service.Name, Replicas: await Task.WhenAll(service.Addresses.Select(address => ProbeAsync(address, cancellationToken)))));
        var results = await Task.WhenAll(probes);

        var services = results.ToDictionary(r => r.Name, r => StatusOf(r.Replicas));
        var failing = services.Where(s => s.Value != ServiceStatus.Healthy).Select(s => s.Key).ToArray();
        var backendReplicas = results.Single(r => r.Name == ServiceRoutes.BackendService).Replicas;

        return new SuiteHealth(
            failing.Length == 0 ? SuiteStatus.Healthy : SuiteStatus.Degraded,
            SuiteServiceName,
            timeProvider.GetUtcNow(),
            await ReadBackendsOnlineAsync(backendReplicas, cancellationToken),
            identity.Version,
            services,
            failing,
            results.ToDictionary(r => r.Name, r => (IReadOnlyList<ReplicaHealth>)r.Replicas.Select(p => p.Health).ToArray()));
    }

    private static ServiceStatus StatusOf(IReadOnlyList<ReplicaProbe> replicas) =>
        replicas.Count == 0 ? ServiceStatus.NoInstances
        : replicas.Any(r => r.Health.Status == ReplicaStatus.Healthy) ? ServiceStatus.Healthy
        : replicas.Any(r => r.Health.Status == ReplicaStatus.Degraded) ? ServiceStatus.Degraded
        : ServiceStatus.Unhealthy;

    private async Task<ReplicaProbe> ProbeAsync(Uri address, CancellationToken cancellationToken)
    {
        try
        {
            var (status, body) = await GetJsonAsync(new Uri(address, "/health"), cancellationToken);
            var reported = AsString((body as JsonObject)?["status"]);
            var health = status switch
            {
                HttpStatusCode.OK when reported is "degraded" => new ReplicaHealth(address.ToString(), ReplicaStatus.Degraded, FailingChecks(body)),
                HttpStatusCode.OK => new ReplicaHealth(address.ToString(), ReplicaStatus.Healthy, null),
                _ => new ReplicaHealth(address.ToString(), ReplicaStatus.Unhealthy, FailingChecks(body) ?? $"HTTP {(int)status}"),
            };
            return new ReplicaProbe(address, health);
        }
        catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            var detail = exception is OperationCanceledException
                ? $"no answer within {ProbeTimeout.TotalSeconds:0} s"
                : exception.Message;
            logger.LogDebug("Health probe of {Address} failed: {Detail}", address, detail);
            return new ReplicaProbe(address, new ReplicaHealth(address.ToString(), ReplicaStatus.Unreachable, detail));
        }
    }

    /// <summary>The <c>online</c> count of backend-service's <c>GET /api/backends</c>; 0 whenever that
    /// cannot be had, because a missing count must not fail the health of the suite.</summary>
    private async Task<int> ReadBackendsOnlineAsync(IReadOnlyList<ReplicaProbe> replicas, CancellationToken cancellationToken)
    {
        if (replicas.FirstOrDefault(r => r.Health.Status is ReplicaStatus.Healthy or ReplicaStatus.Degraded) is not { } replica)
        {
            return 0;
        }

        try
        {
            var (status, body) = await GetJsonAsync(new Uri(replica.Address, "/api/backends"), cancellationToken);
            return status == HttpStatusCode.OK
                   && (body as JsonObject)?["online"] is JsonValue online
                   && online.TryGetValue<int>(out var count)
                ? count
                : 0;
        }
        catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            logger.LogDebug("Could not read the online backend count from {Address}: {Reason}", replica.Address, exception.Message);
            return 0;
        }
    }

    private async Task<(HttpStatusCode Status, JsonNode? Body)> GetJsonAsync(Uri uri, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(ProbeTimeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var client = httpClientFactory.CreateClient(SuiteTopology.HttpClientName);
        using var response = await client.GetAsync(uri, linked.Token);
        var text = await response.Content.ReadAsStringAsync(linked.Token);
        try
        {
            return (response.StatusCode, JsonNode.Parse(text));
        }
        catch (JsonException)
        {
            return (response.StatusCode, null);
        }
    }

    /// <summary>"redis: connection refused; …" from a ServiceDefaults health body.</summary>
    private static string? FailingChecks(JsonNode? body)
    {
        if ((body as JsonObject)?["checks"] is not JsonObject checks)
        {
            return null;
        }

        var failing = checks
            .Where(check => AsString(check.Value?["status"]) is { } status && status != "healthy")
            .Select(check => AsString(check.Value?["description"]) is { Length: > 0 } description ? $"{check.Key}: {description}" : check.Key)
            .ToArray();
        return failing.Length == 0 ? null : string.Join("; ", failing);
    }

    private static string? AsString(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private sealed record ReplicaProbe(Uri Address, ReplicaHealth Health);
}
