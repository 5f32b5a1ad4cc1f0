using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.LoadBalancing;

namespace DirectorsConsole.Gateway.Routing;

/// <summary>Builds YARP's routes and clusters from the route table. Each configured service's cluster has one
/// destination, <c>http://{name}</c>, which service discovery expands into one destination per replica.</summary>
public static class ProxyConfigFactory
{
    /// <summary>Probed on every replica: liveness only, so a replica whose Redis blips keeps its traffic.</summary>
    public const string ProbePath = "/alive";
    /// <summary>Often, so a restarted replica is back in rotation within a second; a probe of /alive is cheap.</summary>
    public static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How long a replica that refused a connection stays out of rotation at most; a probe or a
    /// request it answers brings it back sooner.</summary>
    public static readonly TimeSpan ReactivationPeriod = TimeSpan.FromSeconds(5);

    public static IReadOnlyList<RouteConfig> Routes() =>
        ServiceRoutes.All.Select(route => new RouteConfig
        {
            RouteId = $"{route.Service}:{route.Template}",
            ClusterId = route.Service,
            Match = new RouteMatch { Path = route.Template },
        }).ToArray();

    public static IReadOnlyList<ClusterConfig> Clusters(IConfiguration configuration, GatewayOptions options) =>
        ServiceRoutes.Services.Select(service => new ClusterConfig
        {
            ClusterId = service,
            LoadBalancingPolicy = LoadBalancingPolicies.PowerOfTwoChoices,
            Destinations = SuiteTopology.IsConfigured(configuration, service)
                ? new Dictionary<string, DestinationConfig> { [service] = new() { Address = $"http://{service}" } }
                : new Dictionary<string, DestinationConfig>(),
            HealthCheck = new HealthCheckConfig
            {
                // Unknown counts as available so a replica serves before its first probe; a cluster with
                // nothing available answers 503, which ProxyProblems turns into "has no live instance".
                AvailableDestinationsPolicy = HealthCheckConstants.AvailableDestinations.HealthyAndUnknown,
                Active = new ActiveHealthCheckConfig
                {
                    Enabled = true,
                    Interval = ProbeInterval,
                    Timeout = ProbeTimeout,
                    Policy = ProbeAnsweredPolicy.PolicyName,
                    Path = ProbePath,
                },
                Passive = new PassiveHealthCheckConfig
                {
                    Enabled = true,
                    Policy = ConnectionFailurePolicy.PolicyName,
                    ReactivationPeriod = ReactivationPeriod,
                },
            },
            HttpRequest = new ForwarderRequestConfig { ActivityTimeout = options.UpstreamTimeout },
        }).ToArray();
}
