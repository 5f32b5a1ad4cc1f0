using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.AppHost.Tests;

/// <summary>The AppHost checks config.yaml's clients with the services' rules before anything starts, and gives the
/// Gateway and every service one secret per run.</summary>
public sealed class AccessSettingsTests : IDisposable
{
    private readonly TempSuiteDirectory _root = new();

    public void Dispose() => _root.Dispose();

    [Fact]
    public void UnusableClientsStopTheAppHostNamingEachProblem()
    {
        // Arrange
        File.WriteAllText(Path.Combine(_root.Path, "config.yaml"), """
            clients:
              - {name: ci, role: operator, token_sha256: "not-hex"}
              - {name: ci, role: wizard, token_env: DC_UNSET_TOKEN}
            """);

        // Act
        var error = Assert.Throws<AppHostConfigurationException>(() => _root.Settings());

        // Assert
        Assert.Contains("64 hexadecimal digits", error.Message, StringComparison.Ordinal);
        Assert.Contains("the name is used by more than one client", error.Message, StringComparison.Ordinal);
        Assert.Contains("not 'wizard'", error.Message, StringComparison.Ordinal);
        Assert.Contains("'DC_UNSET_TOKEN'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnOpenSuiteOnTheNetworkIsRefusedUnlessAllowed()
    {
        // Act
        var refused = Assert.Throws<AppHostConfigurationException>(() => _root.Settings(new() { ["ORCHESTRATOR_HOST"] = "0.0.0.0" }));
        var allowed = _root.Settings(new() { ["ORCHESTRATOR_HOST"] = "0.0.0.0", ["ORCHESTRATOR_ALLOW_ANONYMOUS_NETWORK"] = "true" });

        // Assert
        Assert.Contains("allow_anonymous_network: true", refused.Message, StringComparison.Ordinal);
        Assert.Equal("0.0.0.0", allowed.Host);
    }

    [Fact]
    public void ASuiteWithClientsMayListenOnTheNetwork()
    {
        // Arrange
        File.WriteAllText(Path.Combine(_root.Path, "config.yaml"), "clients:\n  - {name: ops, role: admin, token_env: DC_OPS_TOKEN}\n");

        // Act
        var settings = _root.Settings(new() { ["ORCHESTRATOR_HOST"] = "0.0.0.0", ["DC_OPS_TOKEN"] = "a-token" });

        // Assert
        Assert.Equal("0.0.0.0", settings.Host);
    }

    [Fact]
    public async Task EveryProjectGetsTheSameNewSecretForEachRun()
    {
        // Arrange
        var first = _root.SuiteSettings();
        var second = _root.SuiteSettings();
        var builder = _root.Suite(first);

        // Act
        var secrets = new HashSet<string>();
        foreach (var project in builder.Resources.OfType<ProjectResource>().Where(p => p.Name is "gateway" or "job-service" or "path-service"))
        {
            var configuration = await ExecutionConfigurationBuilder.Create(project).WithEnvironmentVariablesConfig()
                .BuildAsync(builder.ExecutionContext, NullLogger.Instance, TestContext.Current.CancellationToken);
            secrets.Add(configuration.EnvironmentVariables.Single(e => e.Key == "ORCHESTRATOR_GATEWAY_SECRET").Value);
        }

        // Assert
        Assert.Equal(first.GatewaySecret, Assert.Single(secrets));
        Assert.True(first.GatewaySecret.Length >= 32);
        Assert.NotEqual(first.GatewaySecret, second.GatewaySecret);
    }

    [Fact]
    public void AConfiguredSecretIsKept()
    {
        // Act
        var settings = _root.Settings(new() { ["ORCHESTRATOR_GATEWAY_SECRET"] = "the-studio-wide-secret-0001" });

        // Assert
        Assert.Equal("the-studio-wide-secret-0001", settings.GatewaySecret);
    }
}
