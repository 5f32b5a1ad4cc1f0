using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.ServiceDefaults.Configuration;
using Microsoft.Extensions.Configuration;

namespace DirectorsConsole.ServiceDefaults.Tests.Access;

/// <summary>config.yaml's access settings: read as written, refused at start with a message naming each problem.</summary>
public sealed class AccessOptionsTests : IDisposable
{
    private const string Secret = "a-secret-only-the-gateway-knows-42";
    private static readonly string ValidHash = ClientTokenDigest.Hex("token-of-ci");
    private readonly string _folder = Directory.CreateTempSubdirectory("dc-access-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void ConfigYamlClientsAreReadAsWritten()
    {
        // Arrange
        var options = Read($"""
            anonymous_role: viewer
            allow_anonymous_network: true
            gateway_secret: {Secret}
            clients:
              - {"{"}name: ci, role: operator, token_sha256: "{ValidHash}"{"}"}
              - name: ops
                role: Admin
                token_env: OPS_TOKEN
            """);

        // Act
        var problems = AccessOptionsValidator.Problems(options);

        // Assert
        Assert.Empty(problems);
        Assert.Equal(2, options.Clients.Count);
        Assert.Equal("ci", options.Clients[0].Name);
        Assert.Equal("OPS_TOKEN", options.Clients[1].TokenEnv);
        Assert.Equal(ClientRole.Viewer, options.EffectiveAnonymousRole);
        Assert.True(options.AllowAnonymousNetwork);
    }

    [Fact]
    public void ConfigYamlWorkerTokensAreReadAsWritten()
    {
        // Arrange
        var options = Read($"""
            worker_token_sha256: "{ValidHash}"
            worker_token: a-shared-worker-token-of-the-apphost
            workers:
              - {"{"}worker_id: gpu-home, token_sha256: "{ValidHash}"{"}"}
              - worker_id: cloud-1
                token_env: CLOUD_TOKEN
            """);

        // Act
        var problems = AccessOptionsValidator.Problems(options);
        var unset = AccessOptionsValidator.TokenVariableProblems(options, _ => null);

        // Assert
        Assert.Empty(problems);
        Assert.True(options.HasWorkerTokens);
        Assert.Equal(["gpu-home", "cloud-1"], options.Workers.Select(w => w.WorkerId));
        Assert.Equal("CLOUD_TOKEN", options.Workers[1].TokenEnv);
        Assert.Contains(unset, p => p.Contains("worker 'cloud-1'", StringComparison.Ordinal) && p.Contains("CLOUD_TOKEN", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("worker_token_sha256: \"abc\"", "'worker_token_sha256' must be 64 hexadecimal digits")]
    [InlineData("worker_token: short", "'worker_token' (ORCHESTRATOR_WORKER_TOKEN) must be at least 16 characters")]
    [InlineData("workers:\n  - {token_sha256: \"HASH\"}", "workers[0]: 'worker_id' is required")]
    [InlineData("workers:\n  - {worker_id: ../etc, token_sha256: \"HASH\"}", "worker '../etc': 'worker_id' must be 1–64 letters")]
    [InlineData("workers:\n  - {worker_id: gpu, token_sha256: \"HASH\"}\n  - {worker_id: gpu, token_env: X}", "worker 'gpu': the worker id is listed more than once")]
    [InlineData("workers:\n  - {worker_id: gpu}", "worker 'gpu': give exactly one of 'token_sha256'")]
    [InlineData("workers:\n  - {worker_id: gpu, token_sha256: \"xyz\"}", "worker 'gpu': 'token_sha256' must be 64 hexadecimal digits")]
    public void ABadWorkerTokenStopsStartNamingIt(string yaml, string expected)
    {
        // Arrange
        var options = Read(yaml.Replace("HASH", ValidHash, StringComparison.Ordinal) + "\n");

        // Act
        var problems = AccessOptionsValidator.Problems(options);

        // Assert
        Assert.Contains(problems, problem => problem.Contains(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("  - {name: ci, role: operator, token_sha256: \"abc\"}", "64 hexadecimal digits")]
    [InlineData("  - {name: ci, role: operator, token_sha256: \"zz8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327a\"}", "64 hexadecimal digits")]
    [InlineData("  - {name: ci, role: superuser, token_sha256: \"HASH\"}", "'role' must be viewer, operator or admin, not 'superuser'")]
    [InlineData("  - {name: ci, role: none, token_sha256: \"HASH\"}", "'role' must be viewer, operator or admin")]
    [InlineData("  - {name: ci, role: operator}", "exactly one of 'token_sha256'")]
    [InlineData("  - {name: ci, role: operator, token_sha256: \"HASH\", token_env: CI}", "exactly one of 'token_sha256'")]
    [InlineData("  - {role: operator, token_sha256: \"HASH\"}", "clients[0]: 'name' is required")]
    [InlineData("  - {name: ci, role: operator, token_sha256: \"HASH\"}\n  - {name: CI, role: viewer, token_env: X}", "client 'CI': the name is used by more than one client")]
    public void ABadClientStopsStartWithItsName(string clients, string expected)
    {
        // Arrange
        var options = Read($"gateway_secret: {Secret}\nclients:\n{clients.Replace("HASH", ValidHash, StringComparison.Ordinal)}\n");

        // Act
        var problems = AccessOptionsValidator.Problems(options);

        // Assert
        Assert.Contains(problems, problem => problem.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void ClientsWithoutAGatewaySecretAreRefused()
    {
        // Arrange
        var options = Read($"clients:\n  - {{name: ci, role: operator, token_sha256: \"{ValidHash}\"}}\n");

        // Act
        var problems = AccessOptionsValidator.Problems(options);

        // Assert
        Assert.Contains(problems, problem => problem.Contains("ORCHESTRATOR_GATEWAY_SECRET", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("anonymous_role: everyone", "'anonymous_role' must be none, viewer, operator or admin")]
    [InlineData("gateway_secret: short", "at least 16 characters")]
    public void BadTopLevelSettingsAreRefused(string yaml, string expected) =>
        Assert.Contains(AccessOptionsValidator.Problems(Read(yaml)), problem => problem.Contains(expected, StringComparison.Ordinal));

    [Fact]
    public void AnUnsetTokenVariableIsNamed()
    {
        // Arrange
        var options = Read($"gateway_secret: {Secret}\nclients:\n  - {{name: ops, role: admin, token_env: OPS_TOKEN}}\n");

        // Act
        var unset = AccessOptionsValidator.TokenVariableProblems(options, _ => null);
        var set = AccessOptionsValidator.TokenVariableProblems(options, name => name == "OPS_TOKEN" ? "x" : null);

        // Assert
        Assert.Contains("'OPS_TOKEN'", Assert.Single(unset));
        Assert.Empty(set);
    }

    [Theory]
    [InlineData("", ClientRole.Admin, true)]
    [InlineData("allow_anonymous_network: true", ClientRole.Admin, false)]
    [InlineData("clients:\n  - {name: ci, role: operator, token_env: CI}", ClientRole.None, false)]
    [InlineData("anonymous_role: operator\nclients:\n  - {name: ci, role: operator, token_env: CI}", ClientRole.Operator, true)]
    public void AnOpenGatewayMayNotListenOnTheNetworkUnlessThatIsMeant(string yaml, ClientRole anonymous, bool refused)
    {
        // Arrange
        var options = Read(yaml);

        // Act
        var refusal = options.NetworkExposureRefusal("0.0.0.0:9820");

        // Assert
        Assert.Equal(anonymous, options.EffectiveAnonymousRole);
        Assert.Equal(refused, refusal is not null);
        if (refusal is not null)
        {
            Assert.Contains("allow_anonymous_network: true", refusal, StringComparison.Ordinal);
        }
    }

    private AccessOptions Read(string yaml)
    {
        var path = Path.Combine(_folder, $"{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        var configuration = new ConfigurationBuilder().Add(new YamlConfigurationSource(path)).Build();
        var options = new AccessOptions();
        configuration.Bind(options);
        return options;
    }
}
