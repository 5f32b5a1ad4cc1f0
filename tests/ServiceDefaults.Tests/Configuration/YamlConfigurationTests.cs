using DirectorsConsole.ServiceDefaults.Configuration;
using Microsoft.Extensions.Configuration;

namespace DirectorsConsole.ServiceDefaults.Tests.Configuration;

public sealed class YamlConfigurationTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("dc-config-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void MissingFileYieldsDefaults()
    {
        // Arrange
        var path = Path.Combine(_folder, "config.yaml");

        // Act
        var options = Bind(path);

        // Assert
        Assert.Equal(Path.Combine(_folder, "data"), options.DataDirectory);
        Assert.Equal(Path.Combine(_folder, "logs"), options.LogDirectory);
    }

    [Fact]
    public void Spec02ConfigIsFlattenedIntoKeys()
    {
        // Arrange
        var path = Write("""
            data_dir: "./state"
            log_dir: /var/log/dc
            redis: "10.0.0.5:6379,password=s3cret"
            backends:
              - id: node1
                name: "Beast (5090)"
                host: "192.168.1.100"
                port: 8188
                enabled: true
                capabilities: ["flux", "sdxl"]
                max_concurrent_jobs: 2
            """);

        // Act
        var data = YamlConfigurationProvider.ReadFile(path);
        var options = Bind(path);

        // Assert
        Assert.Equal("node1", data["backends:0:id"]);
        Assert.Equal("Beast (5090)", data["backends:0:name"]);
        Assert.Equal("8188", data["backends:0:port"]);
        Assert.Equal("sdxl", data["backends:0:capabilities:1"]);
        Assert.Equal("10.0.0.5:6379,password=s3cret", data["ConnectionStrings:redis"]);
        Assert.Equal(Path.Combine(_folder, "state"), options.DataDirectory);
        Assert.Equal("/var/log/dc", options.LogDirectory);
    }

    [Fact]
    public void MalformedFileNamesFileLineAndReason()
    {
        // Arrange
        var path = Write("""
            data_dir: ./data
            backends:
              - id: node1
                host: [unclosed
            log_dir: ./logs
            """);

        // Act
        var error = Assert.Throws<InvalidDataException>(() => YamlConfigurationProvider.ReadFile(path));

        // Assert
        Assert.Contains(path, error.Message);
        Assert.Matches(@"line [45]\b", error.Message);
    }

    [Fact]
    public void TopLevelListIsRejectedWithItsLine()
    {
        // Arrange
        var path = Write("- just\n- a list\n");

        // Act
        var error = Assert.Throws<InvalidDataException>(() => YamlConfigurationProvider.ReadFile(path));

        // Assert
        Assert.Contains("line 1", error.Message);
        Assert.Contains("mapping", error.Message);
    }

    [Fact]
    public void EmptyFileYieldsDefaults()
    {
        // Arrange
        var path = Write("");

        // Act
        var options = Bind(path);

        // Assert
        Assert.Equal(Path.Combine(_folder, "data"), options.DataDirectory);
    }

    private string Write(string yaml)
    {
        var path = Path.Combine(_folder, "config.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private static OrchestratorOptions Bind(string configFile)
    {
        var configuration = new ConfigurationBuilder().Add(new YamlConfigurationSource(configFile)).Build();
        var options = new OrchestratorOptions { ConfigFile = configFile };
        configuration.Bind(options);
        return options;
    }
}
