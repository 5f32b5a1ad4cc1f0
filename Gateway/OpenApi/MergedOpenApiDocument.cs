using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Gateway.Routing;
using DirectorsConsole.ServiceDefaults.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.Swagger;
using Yarp.ReverseProxy;

namespace DirectorsConsole.Gateway.OpenApi;

/// <summary>
/// Builds <c>/openapi.json</c> from the gateway's own document and every service's <c>/openapi/v1.json</c>
/// (the first live replica that answers), and keeps it for <see cref="CacheLifetime"/>. A document that
/// misses a service is kept only briefly, so the service appears soon after it comes up.
/// </summary>
public sealed class MergedOpenApiDocument(
    IHttpClientFactory httpClientFactory,
    SuiteTopology topology,
    IProxyStateLookup proxyState,
    ISwaggerProvider swaggerProvider,
    IOptions<SwaggerOptions> swaggerOptions,
    ServiceIdentity identity,
    TimeProvider timeProvider,
    ILogger<MergedOpenApiDocument> logger) : IDisposable
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan IncompleteCacheLifetime = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(5);
    private const string ServiceDocumentPath = "/openapi/v1.json";

    private readonly SemaphoreSlim _buildLock = new(1, 1);
    private volatile CachedDocument? _cached;

    public async Task<string> GetJsonAsync(CancellationToken cancellationToken)
    {
        if (_cached is { } fresh && fresh.ExpiresAt > timeProvider.GetUtcNow())
        {
            return fresh.Json;
        }

        // One build at a time: callers that arrive during a build get its result.
        await _buildLock.WaitAsync(cancellationToken);
        try
        {
            if (_cached is { } built && built.ExpiresAt > timeProvider.GetUtcNow())
            {
                return built.Json;
            }

            var sources = await Task.WhenAll(topology.Services.Select(service => FetchAsync(service, cancellationToken)));
            var version = OpenApiVersionOf(sources);
            var merged = OpenApiMerger.Merge([await OwnDocumentAsync(version, cancellationToken), .. sources], identity.Version);
            if (merged.SkippedPaths.Count > 0)
            {
                logger.LogDebug("Left out of /openapi.json because the gateway routes them elsewhere: {Paths}", string.Join(", ", merged.SkippedPaths));
            }

            var complete = sources.All(source => source.Document is not null);
            var json = merged.Document.ToJsonString();
            _cached = new CachedDocument(json, timeProvider.GetUtcNow() + (complete ? CacheLifetime : IncompleteCacheLifetime));
            return json;
        }
        finally
        {
            _buildLock.Release();
        }
    }

    public void Dispose() => _buildLock.Dispose();

    /// <summary>The gateway's own endpoints (health, status), in the OpenAPI version of the services'.</summary>
    private async Task<OpenApiSource> OwnDocumentAsync(OpenApiSpecVersion version, CancellationToken cancellationToken)
    {
        var document = swaggerProvider.GetSwagger("v1");
        var json = await document.SerializeAsJsonAsync(version, cancellationToken);
        return new OpenApiSource(OpenApiSource.GatewayName, JsonNode.Parse(json) as JsonObject, null);
    }

    private OpenApiSpecVersion OpenApiVersionOf(IEnumerable<OpenApiSource> sources) =>
        sources.Select(source => source.Document?["openapi"] is JsonValue value && value.TryGetValue<string>(out var declared) ? declared : null)
            .FirstOrDefault(declared => declared is not null) switch
        {
            { } declared when declared.StartsWith("3.1", StringComparison.Ordinal) => OpenApiSpecVersion.OpenApi3_1,
            { } => OpenApiSpecVersion.OpenApi3_0,
            null => swaggerOptions.Value.OpenApiVersion,
        };

    private async Task<OpenApiSource> FetchAsync(ServiceInstances service, CancellationToken cancellationToken)
    {
        if (service.Addresses.Count == 0)
        {
            return new OpenApiSource(service.Name, null, "no instance configured");
        }

        var reason = "no live instance";
        foreach (var address in ReplicasLiveFirst(service))
        {
            try
            {
                using var timeout = new CancellationTokenSource(FetchTimeout, timeProvider);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
                using var client = httpClientFactory.CreateClient(SuiteTopology.HttpClientName);
                using var response = await client.GetAsync(new Uri(address, ServiceDocumentPath), linked.Token);
                if (!response.IsSuccessStatusCode)
                {
                    reason = $"{ServiceDocumentPath} answered HTTP {(int)response.StatusCode}";
                    continue;
                }

                if (JsonNode.Parse(await response.Content.ReadAsStringAsync(linked.Token)) is JsonObject document && document.ContainsKey("openapi"))
                {
                    return new OpenApiSource(service.Name, document, null);
                }

                reason = $"{ServiceDocumentPath} is not an OpenAPI 3 document";
            }
            catch (Exception exception) when (exception is HttpRequestException or JsonException
                                                  or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                reason = exception is OperationCanceledException ? $"no answer within {FetchTimeout.TotalSeconds:0} s" : exception.Message;
            }

            logger.LogWarning("Could not read the OpenAPI document of {Service} at {Address}: {Reason}", service.Name, address, reason);
        }

        return new OpenApiSource(service.Name, null, reason);
    }

    /// <summary>The replicas YARP currently considers available first, then the rest.</summary>
    private IEnumerable<Uri> ReplicasLiveFirst(ServiceInstances service)
    {
        var live = proxyState.TryGetCluster(service.Name, out var cluster)
            ? cluster.DestinationsState.AvailableDestinations.Select(d => new Uri(d.Model.Config.Address)).ToArray()
            : [];
        return live.Concat(service.Addresses).Distinct();
    }

    private sealed record CachedDocument(string Json, DateTimeOffset ExpiresAt);
}
