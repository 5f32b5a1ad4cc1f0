using System.Net;
using System.Net.Sockets;
using DirectorsConsole.AppHost.Extensions;
using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Tests;

public sealed class ModelTests : IDisposable
{
    private readonly TempSuiteDirectory _root = new();

    public void Dispose() => _root.Dispose();

    [Fact]
    public void AllocatedPortsAreDistinctAndFree()
    {
        var allocator = new PortAllocator();

        var ports = Enumerable.Range(0, 20).Select(_ => allocator.Allocate()).ToList();

        Assert.Equal(ports.Count, ports.Distinct().Count());
        Assert.All(ports, port => Assert.True(PortAllocator.IsFree("127.0.0.1", port)));
    }

    [Fact]
    public void APortInUseIsNotFree()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();

        Assert.False(PortAllocator.IsFree("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port));
    }

    [Fact]
    public void BackoffDoublesUpToThirtySecondsAndResetsAfterAMinuteHealthy()
    {
        var backoff = new RestartBackoff();

        var delays = Enumerable.Range(0, 7).Select(_ => backoff.NextDelay(TimeSpan.FromSeconds(5)).TotalSeconds).ToList();

        Assert.Equal([1, 2, 4, 8, 16, 30, 30], delays);
        Assert.Equal(TimeSpan.FromSeconds(30), backoff.NextDelay(TimeSpan.FromSeconds(59)));
        Assert.Equal(TimeSpan.FromSeconds(1), backoff.NextDelay(TimeSpan.FromSeconds(60)));
        Assert.Equal(TimeSpan.FromSeconds(2), backoff.NextDelay(TimeSpan.Zero));
    }

    [Fact]
    public void StartOrderFollowsWaitFor()
    {
        var builder = _root.Builder();
        var redis = builder.AddExecutable("redis", "true", "tcp", []);
        var jobs = builder.AddExecutable("job-service", "true", "http", []).WaitFor(redis);
        var paths = builder.AddExecutable("path-service", "true", "http", []).WaitFor(redis);
        builder.AddExecutable("gateway", "true", "http", []).WaitFor(jobs).WaitFor(paths);

        var levels = StartOrder.Compute(builder.Resources);

        Assert.Equal(
            [["redis"], ["job-service", "path-service"], ["gateway"]],
            levels.Select(level => level.Select(r => r.Name).ToArray()).ToArray());
    }

    [Fact]
    public void AWaitForCycleIsAnError()
    {
        var builder = _root.Builder();
        var a = builder.AddExecutable("a", "true", "http", []);
        var b = builder.AddExecutable("b", "true", "http", []).WaitFor(a);
        a.WaitFor(b);
        builder.AddExecutable("c", "true", "http", []);

        var error = Assert.Throws<AppHostConfigurationException>(() => builder.Build());

        Assert.Equal("WaitFor forms a cycle among: a, b.", error.Message);
    }

    [Fact]
    public void EveryReplicaOfAReferenceIsPassedWithAspireNames()
    {
        // Arrange
        var settings = _root.Settings(commandLine: AppHostCommandLine.Parse(["--replicas", "job-service=2", "--port", "19830"]));
        var builder = _root.Builder(settings);
        var redis = builder.AddRedisConnection("redis", "cache.lan,password=pw");
        var jobs = builder.AddExecutable("job-service", "true", "http", []).WithReference(redis).WaitFor(redis);
        var gateway = builder.AddExecutable("gateway", "true", "http", [])
            .WithExternalHttpEndpoint(settings.Host, settings.Port).WithReference(jobs).WaitFor(jobs);
        builder.Build();
        var jobPorts = jobs.Resource.Ports;

        // Act
        var gatewayEnvironment = ResourceEnvironment.For(gateway.Resource, 0, settings, 4242, aspNetCoreEnvironment: null);
        var jobEnvironment = ResourceEnvironment.For(jobs.Resource, 1, settings, 4242, "Development");

        // Assert
        Assert.Equal(2, jobPorts.Count);
        Assert.Equal("http://127.0.0.1:19830", gatewayEnvironment["ASPNETCORE_URLS"]);
        Assert.Equal($"http://127.0.0.1:{jobPorts[0]}", gatewayEnvironment["services__job-service__http__0"]);
        Assert.Equal($"http://127.0.0.1:{jobPorts[1]}", gatewayEnvironment["services__job-service__http__1"]);
        Assert.Equal("Production", gatewayEnvironment["ASPNETCORE_ENVIRONMENT"]);
        Assert.Equal("gateway-0", gatewayEnvironment["OTEL_SERVICE_INSTANCE_ID"]);
        Assert.False(gatewayEnvironment.ContainsKey("ConnectionStrings__redis"));

        Assert.Equal($"http://127.0.0.1:{jobPorts[1]}", jobEnvironment["ASPNETCORE_URLS"]);
        Assert.Equal("cache.lan,password=pw", jobEnvironment["ConnectionStrings__redis"]);
        Assert.Equal("Development", jobEnvironment["ASPNETCORE_ENVIRONMENT"]);
        Assert.Equal("job-service", jobEnvironment["OTEL_SERVICE_NAME"]);
        Assert.Equal("job-service-1", jobEnvironment["OTEL_SERVICE_INSTANCE_ID"]);
        Assert.Equal("1", jobEnvironment["DOTNET_SERVICE_REPLICA"]);
        Assert.Equal("4242", jobEnvironment["DIRECTORSCONSOLE_PARENT_PID"]);
        Assert.EndsWith("DirectorsConsole.AppHost.dll", jobEnvironment["DOTNET_STARTUP_HOOKS"], StringComparison.Ordinal);
        Assert.Equal(settings.ConfigFile, jobEnvironment["ORCHESTRATOR_CONFIG"]);
        Assert.Equal(settings.DataDirectory, jobEnvironment["ORCHESTRATOR_DATA_DIR"]);
        Assert.Equal(settings.LogDirectory, jobEnvironment["ORCHESTRATOR_LOG_DIR"]);
        Assert.DoesNotContain(jobEnvironment.Keys, k => k.StartsWith("services__", StringComparison.Ordinal));
    }

    [Fact]
    public void ComfyNodesArePassedToTheirReferrer()
    {
        var settings = _root.Settings(new() { ["ORCHESTRATOR_COMFY_NODES"] = "gpu1:8188,gpu2:8190" });
        var builder = _root.Builder(settings);
        var nodes = builder.AddComfyNodes("comfy-nodes");
        var backend = builder.AddExecutable("backend-service", "true", "http", []).WithReference(nodes);
        builder.Build();

        var environment = ResourceEnvironment.For(backend.Resource, 0, settings, 1, null);

        Assert.Equal("http://gpu1:8188", environment["services__comfy-nodes__http__0"]);
        Assert.Equal("http://gpu2:8190", environment["services__comfy-nodes__http__1"]);
    }

    [Fact]
    public void WithoutConfiguredNodesTwoEmulatorsRunAndTheBackendServiceIsToldTheirAddresses()
    {
        // Arrange
        var settings = _root.Settings();
        var builder = _root.Builder(settings);

        // Act
        var nodes = builder.AddComfyNodes("comfy-nodes");
        var backend = builder.AddExecutable("backend-service", "true", "http", []).WithComfyNodes(nodes);
        builder.Build();
        var environment = ResourceEnvironment.For(backend.Resource, 0, settings, 1, null);

        // Assert
        var emulators = Assert.IsType<ExecutableResource>(nodes.Resource);
        Assert.Equal(ComfyNodeExtensions.EmulatorName, emulators.Name);
        Assert.Equal(2, emulators.Replicas);
        var arguments = emulators.Arguments(emulators.Ports[1]);
        Assert.EndsWith("ComfyEmulator.dll", arguments[0], StringComparison.Ordinal);
        Assert.Equal(["--port", emulators.Ports[1].ToString(System.Globalization.CultureInfo.InvariantCulture)], arguments.Skip(1).Take(2));
        Assert.Equal($"127.0.0.1:{emulators.Ports[0]},127.0.0.1:{emulators.Ports[1]}", environment["ORCHESTRATOR_COMFY_NODES"]);
        Assert.Equal($"http://127.0.0.1:{emulators.Ports[1]}", environment["services__comfy-emulator__http__1"]);
    }

    [Fact]
    public void TheNumberOfEmulatedNodesFollowsReplicas()
    {
        var builder = _root.Builder(_root.Settings(commandLine: AppHostCommandLine.Parse(["--replicas", "comfy-emulator=3"])));
        var nodes = builder.AddComfyNodes("comfy-nodes");

        builder.Build();

        Assert.Equal(3, ((ExecutableResource)nodes.Resource).Ports.Count);
    }

    [Fact]
    public void ConfiguredNodesAreNotPassedAsAVariableTheBackendServiceReadsThemItself()
    {
        var settings = _root.Settings(new() { ["ORCHESTRATOR_COMFY_NODES"] = "gpu1:8188" });
        var builder = _root.Builder(settings);
        var nodes = builder.AddComfyNodes("comfy-nodes");
        var backend = builder.AddExecutable("backend-service", "true", "http", []).WithComfyNodes(nodes);
        builder.Build();

        var environment = ResourceEnvironment.For(backend.Resource, 0, settings, 1, null);

        Assert.IsType<ExternalResource>(nodes.Resource);
        Assert.False(environment.ContainsKey("ORCHESTRATOR_COMFY_NODES"));
        Assert.Equal("http://gpu1:8188", environment["services__comfy-nodes__http__0"]);
    }

    [Fact]
    public void TheGatewayCannotHaveReplicas()
    {
        var settings = _root.Settings(commandLine: AppHostCommandLine.Parse(["--replicas", "gateway=2"]));
        var builder = _root.Builder(settings);
        builder.AddExecutable("gateway", "true", "http", []).WithExternalHttpEndpoint("127.0.0.1", 19831);

        var error = Assert.Throws<AppHostConfigurationException>(() => builder.Build());

        Assert.Contains("'gateway' cannot have replicas", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReplicasOfAnUnknownResourceAreAnError()
    {
        var builder = _root.Builder(_root.Settings(commandLine: AppHostCommandLine.Parse(["--replicas", "jobs=2"])));
        builder.AddExecutable("job-service", "true", "http", []);

        var error = Assert.Throws<AppHostConfigurationException>(() => builder.Build());

        Assert.Contains("there is no resource 'jobs'. Resources: job-service.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AGatewayPortInUseIsAnError()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var builder = _root.Builder();
        builder.AddExecutable("gateway", "true", "http", [])
            .WithExternalHttpEndpoint("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port);

        var error = Assert.Throws<AppHostConfigurationException>(() => builder.Build());

        Assert.Contains("the port is in use", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheStatusTableHasOneRowPerReplica()
    {
        var table = StatusBoard.Render([
            new ReplicaSnapshot("redis", ResourceState.Healthy, 101, "tcp://127.0.0.1:40001", 0),
            new ReplicaSnapshot("job-service#1", ResourceState.Restarting, null, "http://127.0.0.1:40002", 3),
        ]);

        var lines = table.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("NAME", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^job-service#1\s+Restarting\s+-\s+http://127\.0\.0\.1:40002\s+3$", lines[2]);
    }
}
