using System.Net.Http;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace DirectorsConsole.Gateway.Routing;

/// <summary>
/// Passive health: a replica that cannot even be connected to (stopped, crashed, restarting) leaves the
/// rotation at once instead of after the active probes notice it, so one caller sees the failure rather
/// than every other request for the next few seconds. YARP's TransportFailureRate policy needs a minimum
/// throughput first, which a small suite rarely reaches.
/// </summary>
public sealed class ConnectionFailurePolicy(IDestinationHealthUpdater healthUpdater) : IPassiveHealthCheckPolicy
{
    public const string PolicyName = "ConnectionFailure";

    public string Name => PolicyName;

    public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination)
    {
        if (context.GetForwarderErrorFeature() is { } error && ProxyProblems.IsConnectionFailure(error.Exception))
        {
            var period = cluster.Model.Config.HealthCheck?.Passive?.ReactivationPeriod ?? ProxyConfigFactory.ReactivationPeriod;
            healthUpdater.SetPassive(cluster, destination, DestinationHealth.Unhealthy, period);
        }
    }
}
