using Yarp.ReverseProxy;

namespace DirectorsConsole.Gateway.Routing;

/// <summary>The replicas of one service, in address order.</summary>
public sealed record ServiceInstances(string Name, IReadOnlyList<Uri> Addresses);

/// <summary>
/// Where the services are right now: the destinations YARP holds for each service's cluster, which service
/// discovery resolved from <c>http://{name}</c> (with Aspire's configuration format,
/// <c>services:{name}:http:{index}</c>, one entry per replica). The proxy, the suite health and the merged
/// OpenAPI document all read this one list. A service without entries has no instances; its routes answer 503.
/// </summary>
public sealed class SuiteTopology(IProxyStateLookup proxyState)
{
    /// <summary>The HttpClient for the gateway's own calls to services (health, OpenAPI): no retries, so
    /// what it reports is what it saw within its timeout.</summary>
    public const string HttpClientName = "suite";

    public IReadOnlyList<ServiceInstances> Services =>
        ServiceRoutes.Services.Select(name => this[name]).ToArray();

    public ServiceInstances this[string name] => new(name, AddressesOf(name));

    /// <summary>True when service discovery has entries for the service, so its cluster gets a destination
    /// to resolve; without this an unknown name would pass through as a DNS host name.</summary>
    public static bool IsConfigured(IConfiguration configuration, string name) =>
        configuration.GetSection($"services:{name}").Exists();

    private Uri[] AddressesOf(string name) =>
        proxyState.TryGetCluster(name, out var cluster)
            ? cluster.DestinationsState.AllDestinations
                .Select(destination => new Uri(destination.Model.Config.Address))
                .Distinct()
                .OrderBy(address => address.ToString(), StringComparer.Ordinal)
                .ToArray()
            : [];
}
