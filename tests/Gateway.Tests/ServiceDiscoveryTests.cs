using DirectorsConsole.Gateway.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.Gateway.Tests;

public sealed class ServiceDiscoveryTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public void EveryConfiguredReplicaBecomesADestination()
    {
        // Arrange
        var topology = gateway.Services.GetRequiredService<SuiteTopology>();
        var jobReplicas = gateway.Replicas.Where(replica => replica.Name == "job-service").Select(replica => replica.Address).ToArray();

        // Act
        var jobService = topology["job-service"];

        // Assert
        Assert.Equal(jobReplicas.OrderBy(address => address.ToString(), StringComparer.Ordinal), jobService.Addresses);
        Assert.Equal(gateway.Replica("path-service").Address, Assert.Single(topology["path-service"].Addresses));
        Assert.Equal(ServiceRoutes.Services, topology.Services.Select(service => service.Name));
    }
}
