using DirectorsConsole.Gateway.Hosting;
using DirectorsConsole.Gateway.Routing;

namespace DirectorsConsole.Gateway.Tests;

public sealed class GatewayHostingTests
{
    [Theory]
    [InlineData("http://localhost:5173", true)]
    [InlineData("https://127.0.0.1", true)]
    [InlineData("http://[::1]:8080", true)]
    [InlineData("http://evil.example", false)]
    [InlineData("http://192.168.1.20:5173", false)]
    [InlineData("file://localhost/x", false)]
    public void DefaultPolicyAllowsOnlyThisMachine(string origin, bool allowed)
    {
        // Act
        var policy = GatewayCors.Policy(null);

        // Assert
        Assert.Equal(allowed, policy.IsOriginAllowed(origin));
        Assert.False(policy.SupportsCredentials);
    }

    [Fact]
    public void ExplicitOriginsAllowCredentials()
    {
        // Act
        var policy = GatewayCors.Policy(" https://studio.example/ , http://render-farm:3000");

        // Assert
        Assert.True(policy.IsOriginAllowed("https://studio.example"));
        Assert.True(policy.IsOriginAllowed("http://render-farm:3000"));
        Assert.False(policy.IsOriginAllowed("http://localhost:5173"));
        Assert.True(policy.SupportsCredentials);
    }

    [Fact]
    public void StarAllowsAnyOriginWithoutCredentials()
    {
        // Act
        var policy = GatewayCors.Policy("*");

        // Assert
        Assert.True(policy.AllowAnyOrigin);
        Assert.False(policy.SupportsCredentials);
        Assert.Equal(GatewayCors.Methods, policy.Methods);
    }

    [Theory]
    [InlineData("http://127.0.0.1:9820", true)]
    [InlineData("http://localhost:9820", true)]
    [InlineData("http://[::1]:9820", true)]
    [InlineData("http://0.0.0.0:9820", false)]
    [InlineData("http://[::]:9820", false)]
    [InlineData("http://*:9820", false)]
    [InlineData("http://+:9820", false)]
    [InlineData("http://192.168.1.20:9820", false)]
    public void LoopbackAddressesAreRecognised(string address, bool loopback) =>
        Assert.Equal(loopback, NetworkExposureGuard.IsLoopback(address));

    [Theory]
    [InlineData("/api/jobs/abc/cancel", "job-service")]
    [InlineData("/api/job-group", "job-service")]
    [InlineData("/api/job-groupx", null)]
    [InlineData("/api/gallery", "gallery-service")]
    [InlineData("/api/translate-path/extra", null)]
    [InlineData("/api/health", null)]
    public void RouteTableNamesTheOwner(string path, string? owner) =>
        Assert.Equal(owner, ServiceRoutes.OwnerOf(path));
}
