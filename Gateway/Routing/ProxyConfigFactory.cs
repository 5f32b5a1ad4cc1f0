using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.LoadBalancing;

namespace DirectorsConsole.Gateway.Routing;

/// <summary>Builds YARP's routes and clusters from the route table and the configured replicas.</summary>
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

    public static IReadOnlyList<ClusterConfig> Clusters(SuiteTopology topology, GatewayOptions options) =>
        topology.Services.Select(service => new ClusterConfig
        {
            ClusterId = service.Name,
            LoadBalancingPolicy = LoadBalancingPolicies.PowerOfTwoChoices,
            Destinations = service.Addresses
                .Select((address, index) => (Id: $"{service.Name}-{index}", Address: address))
                .ToDictionary(d => d.Id, d => new DestinationConfig { Address = d.Address.ToString() }),
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
