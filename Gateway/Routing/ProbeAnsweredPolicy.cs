using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace DirectorsConsole.Gateway.Routing;

/// <summary>
/// Active health: a replica whose probe succeeds is in rotation from that moment, even if a refused
/// connection took it out (YARP would otherwise keep it out until the passive reactivation period ends,
/// answering 503 while <c>/health</c> already says ok); one whose probe fails is out until it answers one.
/// Taking a replica out on a single failed probe is safe: <see cref="ReplicaFailover"/> still tries replicas
/// out of rotation before it gives up on a request.
/// </summary>
public sealed class ProbeAnsweredPolicy(IDestinationHealthUpdater healthUpdater) : IActiveHealthCheckPolicy
{
    public const string PolicyName = "ProbeAnswered";

    public string Name => PolicyName;

    public void ProbingCompleted(ClusterState cluster, IReadOnlyList<DestinationProbingResult> probingResults)
    {
        var period = cluster.Model.Config.HealthCheck?.Passive?.ReactivationPeriod ?? ProxyConfigFactory.ReactivationPeriod;
        var updates = new List<NewActiveDestinationHealth>(probingResults.Count);
        foreach (var result in probingResults)
        {
            var answered = result.Response is { IsSuccessStatusCode: true };
            updates.Add(new NewActiveDestinationHealth(result.Destination, answered ? DestinationHealth.Healthy : DestinationHealth.Unhealthy));
            if (answered && result.Destination.Health.Passive == DestinationHealth.Unhealthy)
            {
                healthUpdater.SetPassive(cluster, result.Destination, DestinationHealth.Healthy, period);
            }
        }

        healthUpdater.SetActive(cluster, updates);
    }
}
