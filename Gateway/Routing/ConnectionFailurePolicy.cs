using System.Net.Http;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace DirectorsConsole.Gateway.Routing;

/// <summary>
/// Passive health: a replica that cannot even be connected to (stopped, crashed, restarting) leaves the
/// rotation at once instead of after the active probes notice it, and a replica that answers a forwarded
/// request is back in it at once (a restarted one answers a request <see cref="ReplicaFailover"/> holds
/// before its next probe). YARP's TransportFailureRate policy needs a minimum throughput first, which a
/// small suite rarely reaches.
/// </summary>
public sealed class ConnectionFailurePolicy(IDestinationHealthUpdater healthUpdater) : IPassiveHealthCheckPolicy
{
    public const string PolicyName = "ConnectionFailure";

    public string Name => PolicyName;

    public void RequestProxied(HttpContext context, ClusterState cluster, DestinationState destination)
    {
        var period = cluster.Model.Config.HealthCheck?.Passive?.ReactivationPeriod ?? ProxyConfigFactory.ReactivationPeriod;
        if (context.GetForwarderErrorFeature() is { } error)
        {
            if (ProxyProblems.IsConnectionFailure(error.Exception))
            {
                healthUpdater.SetPassive(cluster, destination, DestinationHealth.Unhealthy, period);
            }
        }
        else if (destination.Health.Passive == DestinationHealth.Unhealthy)
        {
            healthUpdater.SetPassive(cluster, destination, DestinationHealth.Healthy, period);
        }
    }
}
