using System.Net;
using System.Net.Sockets;
using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Extensions;
using DirectorsConsole.AppHost.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.AppHost.Tests;

public sealed class ModelTests : IDisposable
{
    private readonly TempSuiteDirectory _root = new();

    public void Dispose() => _root.Dispose();

    [Fact]
    public void AllocatedPortsAreDistinctAndFree()
    {
        var allocator = new LoopbackPorts();

        var ports = Enumerable.Range(0, 20).Select(_ => allocator.Allocate()).ToList();

        Assert.Equal(ports.Count, ports.Distinct().Count());
        Assert.All(ports, port => Assert.True(LoopbackPorts.IsFree("127.0.0.1", port)));
    }

    [Fact]
    public void APortInUseIsNotFree()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();

        Assert.False(LoopbackPorts.IsFree("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port));
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
    public async Task EveryReplicaListensOnItsOwnUnproxiedPortAndTheGatewayGetsEachAddressWithAspireNames()
    {
        // Arrange
        var settings = _root.SuiteSettings(new() { ["ConnectionStrings__redis"] = "cache.lan,password=pw" }, "--replicas", "job-service=2");

        // Act
        var builder = _root.Suite(settings);
        var gateway = Project(builder, "gateway");
        var jobs = new[] { Project(builder, "job-service-0"), Project(builder, "job-service-1") };
        var gatewayEnvironment = await EnvironmentOf(builder, gateway);
        var jobEnvironment = await EnvironmentOf(builder, jobs[1]);

        // Assert
        var jobEndpoints = jobs.Select(j => Assert.Single(j.Annotations.OfType<EndpointAnnotation>())).ToList();
        Assert.All(jobEndpoints, e => Assert.False(e.IsProxied));
        Assert.NotEqual(jobEndpoints[0].Port, jobEndpoints[1].Port);
        var gatewayEndpoint = Assert.Single(gateway.Annotations.OfType<EndpointAnnotation>());
        Assert.False(gatewayEndpoint.IsProxied);
        Assert.Equal(settings.Port, gatewayEndpoint.Port);
        Assert.Equal("127.0.0.1", gatewayEndpoint.TargetHost);

        Assert.Equal($"http://127.0.0.1:{jobEndpoints[0].Port}", gatewayEnvironment["services__job-service__http__0"]);
        Assert.Equal($"http://127.0.0.1:{jobEndpoints[1].Port}", gatewayEnvironment["services__job-service__http__1"]);
        Assert.StartsWith("http://127.0.0.1:", gatewayEnvironment["services__path-service__http__0"], StringComparison.Ordinal);
        Assert.Equal("Production", gatewayEnvironment["ASPNETCORE_ENVIRONMENT"]);
        Assert.Equal("gateway", gatewayEnvironment["OTEL_SERVICE_NAME"]);
        Assert.Equal("cache.lan,password=pw", gatewayEnvironment["ConnectionStrings__redis"]);

        Assert.Equal("cache.lan,password=pw", jobEnvironment["ConnectionStrings__redis"]);
        Assert.Equal("job-service", jobEnvironment["OTEL_SERVICE_NAME"]);
        Assert.Equal("job-service-1", jobEnvironment["OTEL_SERVICE_INSTANCE_ID"]);
        Assert.Equal(SuiteServiceExtensions.OtlpExportTimeoutMilliseconds, jobEnvironment["OTEL_EXPORTER_OTLP_TIMEOUT"]);
        Assert.Equal(settings.ConfigFile, jobEnvironment["ORCHESTRATOR_CONFIG"]);
        Assert.Equal(settings.DataDirectory, jobEnvironment["ORCHESTRATOR_DATA_DIR"]);
        Assert.Equal(settings.LogDirectory, jobEnvironment["ORCHESTRATOR_LOG_DIR"]);
        Assert.DoesNotContain(jobEnvironment.Keys, k => k.StartsWith("services__", StringComparison.Ordinal));
        Assert.DoesNotContain(builder.Resources, r => r is GarnetResource);
        Assert.DoesNotContain("Redis__CommitWrites", jobEnvironment.Keys);
        Assert.DoesNotContain("Redis__CommitWrites", gatewayEnvironment.Keys);
    }

    [Fact]
    public async Task WithoutAConfiguredRedisGarnetRunsWithItsDataUnderDataDirScriptsAsTransactionsAndTheServicesCommittingItsFile()
    {
        // Act
        var builder = _root.Suite(_root.SuiteSettings());
        var garnet = Assert.Single(builder.Resources.OfType<GarnetResource>());
        var arguments = await ArgumentsOf(builder, garnet);
        var jobEnvironment = await EnvironmentOf(builder, Project(builder, "job-service"));

        // Assert
        Assert.EndsWith("GarnetServer.dll", arguments[0], StringComparison.Ordinal);
        Assert.Contains("--lua", arguments);
        Assert.Contains("--lua-transaction-mode", arguments);
        Assert.Contains("--aof", arguments);
        // Each write committed at once, its reply not waiting: the services commit after their writes.
        Assert.Equal("0", arguments[arguments.ToList().IndexOf("--aof-commit-freq") + 1]);
        Assert.DoesNotContain("--aof-commit-wait", arguments);
        Assert.Equal("true", jobEnvironment["Redis__CommitWrites"]);
        Assert.Equal("0", (await EnvironmentOf(builder, garnet))["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"]);
        Assert.Equal("true", (await EnvironmentOf(builder, Project(builder, "gateway")))["Redis__CommitWrites"]);
        Assert.Equal(Path.Combine(_root.Path, "data", "redis"), arguments[arguments.ToList().IndexOf("--checkpointdir") + 1]);
        Assert.Contains("--storage-tier", arguments);
        Assert.Equal(Path.Combine(_root.Path, "data", "redis", "log"), arguments[arguments.ToList().IndexOf("--logdir") + 1]);
        Assert.Equal("300", arguments[arguments.ToList().IndexOf("--checkpoint-freq") + 1]);
        Assert.Equal("Lookup", arguments[arguments.ToList().IndexOf("--compaction-type") + 1]);
        Assert.Equal(garnet.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), arguments[arguments.ToList().IndexOf("--port") + 1]);
        Assert.False(Assert.Single(garnet.Annotations.OfType<EndpointAnnotation>()).IsProxied);
        Assert.Equal($"127.0.0.1:{garnet.Port}", jobEnvironment["ConnectionStrings__redis"]);
        Assert.Contains(Project(builder, "job-service").Annotations.OfType<WaitAnnotation>(), w => w.Resource == garnet);
    }

    [Fact]
    public async Task WithARedisServerNamedItRunsInsteadOfGarnetWithEveryWriteSyncedUnderItsOwnDataDirectory()
    {
        // Arrange: an executable named redis-server on PATH (never started: the model is only declared)
        var bin = Directory.CreateDirectory(Path.Combine(_root.Path, "bin")).FullName;
        TempSuiteDirectory.WriteExecutable(Path.Combine(bin, "redis-server"));

        // Act
        var builder = _root.Suite(_root.SuiteSettings(new() { ["ORCHESTRATOR_REDIS_SERVER"] = "redis-server", ["PATH"] = bin }));
        var server = Assert.Single(builder.Resources.OfType<RedisServerResource>());
        var arguments = await ArgumentsOf(builder, server);
        var jobEnvironment = await EnvironmentOf(builder, Project(builder, "job-service"));

        // Assert
        Assert.DoesNotContain(builder.Resources, r => r is GarnetResource);
        Assert.Equal("redis", server.Name);
        Assert.Equal(Path.Combine(bin, "redis-server"), server.Command);
        Assert.Equal(Path.Combine(_root.Path, "data", "redis-server"), arguments[arguments.IndexOf("--dir") + 1]);
        Assert.Equal("yes", arguments[arguments.IndexOf("--appendonly") + 1]);
        Assert.Equal("always", arguments[arguments.IndexOf("--appendfsync") + 1]);
        Assert.DoesNotContain("Redis__CommitWrites", jobEnvironment.Keys);
        Assert.Equal("127.0.0.1", arguments[arguments.IndexOf("--bind") + 1]);
        Assert.Equal(server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), arguments[arguments.IndexOf("--port") + 1]);
        Assert.False(Assert.Single(server.Annotations.OfType<EndpointAnnotation>()).IsProxied);
        Assert.Equal($"127.0.0.1:{server.Port}", jobEnvironment["ConnectionStrings__redis"]);
        Assert.Contains(Project(builder, "job-service").Annotations.OfType<WaitAnnotation>(), w => w.Resource == server);
    }

    [Fact]
    public async Task WithoutConfiguredNodesTwoEmulatorsRunAndTheBackendServiceIsToldTheirAddresses()
    {
        // Act
        var builder = _root.Suite(_root.SuiteSettings());
        var emulators = new[] { Project(builder, "comfy-emulator-0"), Project(builder, "comfy-emulator-1") };
        var ports = emulators.Select(e => Assert.Single(e.Annotations.OfType<EndpointAnnotation>()).Port).ToList();
        var arguments = await ArgumentsOf(builder, emulators[1]);
        var backendEnvironment = await EnvironmentOf(builder, Project(builder, "backend-service"));

        // Assert
        Assert.Equal(["--port", ports[1].ToString()], arguments.Take(2));
        Assert.Equal($"127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}", backendEnvironment["ORCHESTRATOR_COMFY_NODES"]);
    }

    [Fact]
    public async Task ConfiguredNodesAreWatchedButNotStartedAndTheBackendServiceReadsThemItself()
    {
        var builder = _root.Suite(_root.SuiteSettings(new() { ["ORCHESTRATOR_COMFY_NODES"] = "gpu1:8188,gpu2:8190" }));

        var backendEnvironment = await EnvironmentOf(builder, Project(builder, "backend-service"));

        Assert.DoesNotContain(builder.Resources, r => r.Name.StartsWith(ComfyNodeExtensions.EmulatorName, StringComparison.Ordinal));
        Assert.Equal(["comfy-node-0", "comfy-node-1"], builder.Resources.OfType<ExternalServiceResource>().Select(r => r.Name));
        Assert.False(backendEnvironment.ContainsKey("ORCHESTRATOR_COMFY_NODES"));
    }

    [Fact]
    public async Task WithAgentsEachEmulatorRunsBehindARenderAgentAndTheSuiteIsNeverToldTheirAddresses()
    {
        // Act
        var settings = _root.SuiteSettings(null, "--agents", "2");
        var builder = _root.Suite(settings);
        var emulators = new[] { Project(builder, "comfy-emulator-0"), Project(builder, "comfy-emulator-1") };
        var agents = new[] { Project(builder, "render-agent-0"), Project(builder, "render-agent-1") };
        var backendEnvironment = await EnvironmentOf(builder, Project(builder, "backend-service"));
        var gatewayEnvironment = await EnvironmentOf(builder, Project(builder, "gateway"));
        var agentEnvironments = new[] { await EnvironmentOf(builder, agents[0]), await EnvironmentOf(builder, agents[1]) };

        // Assert
        Assert.False(backendEnvironment.ContainsKey("ORCHESTRATOR_COMFY_NODES"));
        var token = gatewayEnvironment["ORCHESTRATOR_WORKER_TOKEN"];
        Assert.Matches("^[0-9a-f]{64}$", token);
        for (var i = 0; i < 2; i++)
        {
            var port = Assert.Single(emulators[i].Annotations.OfType<EndpointAnnotation>()).Port;
            Assert.Equal($"http://127.0.0.1:{port}/", agentEnvironments[i]["Agent__ComfyUi"]);
            Assert.Equal($"render-agent-{i}", agentEnvironments[i]["Agent__WorkerId"]);
            Assert.Equal(token, agentEnvironments[i]["Agent__Token"]);
            Assert.Equal($"http://127.0.0.1:{settings.Port}/", agentEnvironments[i]["Agent__Orchestrator"]);
            Assert.Contains(agents[i].Annotations.OfType<WaitAnnotation>(), w => w.Resource == emulators[i]);
            Assert.Contains(agents[i].Annotations.OfType<WaitAnnotation>(), w => w.Resource.Name == "gateway");
        }

        Assert.NotEqual(token, _root.SuiteSettings(null, "--agents", "2").WorkerToken);
    }

    [Fact]
    public async Task ConfigYamlAgentsAreOverriddenByTheCommandLineAndWithoutAgentsTheGatewayGetsNoWorkerToken()
    {
        File.WriteAllText(Path.Combine(_root.Path, "config.yaml"), "agents: 1\n");

        var one = _root.Suite(_root.SuiteSettings());
        var none = _root.Suite(_root.SuiteSettings(null, "--agents", "0"));

        Assert.Equal(["render-agent"], one.Resources.OfType<ProjectResource>().Where(r => r.Name.StartsWith("render-agent", StringComparison.Ordinal)).Select(r => r.Name));
        Assert.Single(one.Resources.OfType<ProjectResource>(), r => r.Name == "comfy-emulator");
        Assert.DoesNotContain(none.Resources, r => r.Name.StartsWith("render-agent", StringComparison.Ordinal));
        Assert.False((await EnvironmentOf(none, Project(none, "gateway"))).ContainsKey("ORCHESTRATOR_WORKER_TOKEN"));
        Assert.Contains("127.0.0.1:", (await EnvironmentOf(none, Project(none, "backend-service")))["ORCHESTRATOR_COMFY_NODES"], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--agents 17", "from 0 to 16")]
    [InlineData("--agents two", "from 0 to 16")]
    [InlineData("--agents 2 --replicas comfy-emulator=3", "one emulated node per agent")]
    public void AgentSettingsThatCannotWorkAreRefused(string arguments, string reason)
    {
        var error = Assert.Throws<AppHostConfigurationException>(() => _root.Suite(_root.SuiteSettings(null, arguments.Split(' '))));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AgentsCannotBeCombinedWithConfiguredNodes()
    {
        var error = Assert.Throws<AppHostConfigurationException>(() =>
            _root.Suite(_root.SuiteSettings(new() { ["ORCHESTRATOR_COMFY_NODES"] = "gpu1:8188" }, "--agents", "1")));

        Assert.Contains("cannot be combined with configured nodes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheNumberOfEmulatedNodesFollowsReplicasAndConfigYaml()
    {
        File.WriteAllText(Path.Combine(_root.Path, "config.yaml"), "replicas:\n  comfy-emulator: 3\n  path-service: 2\n");

        var builder = _root.Suite(_root.SuiteSettings(null, "--replicas", "path-service=4"));

        Assert.Equal(3, builder.Resources.OfType<ProjectResource>().Count(r => r.Name.StartsWith("comfy-emulator-", StringComparison.Ordinal)));
        Assert.Equal(4, builder.Resources.OfType<ProjectResource>().Count(r => r.Name.StartsWith("path-service-", StringComparison.Ordinal)));
    }

    [Fact]
    public void TheGatewayCannotHaveReplicas()
    {
        var error = Assert.Throws<AppHostConfigurationException>(() =>
            _root.Suite(_root.SuiteSettings(null, "--replicas", "gateway=2")));

        Assert.Contains("'gateway' cannot have replicas", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReplicasOfAnUnknownResourceAreAnError()
    {
        var error = Assert.Throws<AppHostConfigurationException>(() =>
            _root.Suite(_root.SuiteSettings(null, "--replicas", "jobs=2")));

        Assert.Contains("there is no resource 'jobs'. Resources: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("job-service", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AGatewayPortInUseIsAnError()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var error = Assert.Throws<AppHostConfigurationException>(() =>
            _root.Suite(_root.Settings(commandLine: AppHostCommandLine.Parse(["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]))));

        Assert.Contains("the port is in use", error.Message, StringComparison.Ordinal);
    }

    private static async Task<Dictionary<string, string>> EnvironmentOf(IDistributedApplicationBuilder builder, IResource resource)
    {
        var configuration = await ExecutionConfigurationBuilder.Create(resource).WithEnvironmentVariablesConfig()
            .BuildAsync(builder.ExecutionContext, NullLogger.Instance, TestContext.Current.CancellationToken);
        return configuration.EnvironmentVariables.ToDictionary(e => e.Key, e => e.Value);
    }

    private static async Task<List<string>> ArgumentsOf(IDistributedApplicationBuilder builder, IResource resource)
    {
        var configuration = await ExecutionConfigurationBuilder.Create(resource).WithArgumentsConfig()
            .BuildAsync(builder.ExecutionContext, NullLogger.Instance, TestContext.Current.CancellationToken);
        return [.. configuration.Arguments.Select(a => a.Value)];
    }

    private static ProjectResource Project(IDistributedApplicationBuilder builder, string name) =>
        builder.Resources.OfType<ProjectResource>().Single(r => r.Name == name);
}
