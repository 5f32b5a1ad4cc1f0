using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Tests;

public sealed class AppHostSettingsTests : IDisposable
{
    private readonly TempSuiteDirectory _root = new();

    public void Dispose() => _root.Dispose();

    [Fact]
    public void MissingConfigFileMeansDefaults()
    {
        // Act
        var settings = _root.Settings();

        // Assert
        Assert.Equal(Path.Combine(_root.Path, "config.yaml"), settings.ConfigFile);
        Assert.Equal(Path.Combine(_root.Path, "data"), settings.DataDirectory);
        Assert.Equal(Path.Combine(_root.Path, "logs"), settings.LogDirectory);
        Assert.Null(settings.RedisConnectionString);
        Assert.Empty(settings.ComfyNodes);
        Assert.Equal("127.0.0.1", settings.Host);
        Assert.Equal(9820, settings.Port);
        Assert.Equal(new Uri("http://127.0.0.1:9820"), settings.GatewayUrl);
    }

    [Fact]
    public void RelativeDirectoriesResolveAgainstTheConfigFilesFolder()
    {
        // Arrange
        var configFolder = Directory.CreateDirectory(Path.Combine(_root.Path, "conf")).FullName;
        File.WriteAllText(Path.Combine(configFolder, "suite.yaml"), """
            data_dir: ./state
            log_dir: ../logs-here
            redis: "redis.lan:6380,password=secret"
            backends:
              - id: node1
                host: 192.168.1.100
                port: 8189
              - id: node2
                host: gpu2
                enabled: false
              - id: node3
                host: gpu3
            """);

        // Act
        var settings = _root.Settings(new() { ["ORCHESTRATOR_CONFIG"] = "conf/suite.yaml" });

        // Assert
        Assert.Equal(Path.Combine(configFolder, "suite.yaml"), settings.ConfigFile);
        Assert.Equal(Path.Combine(configFolder, "state"), settings.DataDirectory);
        Assert.Equal(Path.Combine(_root.Path, "logs-here"), settings.LogDirectory);
        Assert.Equal("redis.lan:6380,password=secret", settings.RedisConnectionString);
        Assert.Equal([new Uri("http://192.168.1.100:8189"), new Uri("http://gpu3:8188")], settings.ComfyNodes);
    }

    [Fact]
    public void EnvironmentOverridesTheFileAndTheCommandLineOverridesThePort()
    {
        File.WriteAllText(Path.Combine(_root.Path, "config.yaml"), "data_dir: ./from-file\nredis: file:6379\n");

        var settings = _root.Settings(
            new()
            {
                ["ORCHESTRATOR_DATA_DIR"] = "/srv/dc-data",
                ["ORCHESTRATOR_LOG_DIR"] = "my-logs",
                ["ConnectionStrings__redis"] = "env:6379",
                ["ORCHESTRATOR_PORT"] = "9000",
                ["ORCHESTRATOR_HOST"] = "0.0.0.0",
                // An open suite on the network must be asked for.
                ["ORCHESTRATOR_ALLOW_ANONYMOUS_NETWORK"] = "true",
                ["ORCHESTRATOR_COMFY_NODES"] = "gpu1, http://gpu2:9000/",
            },
            AppHostCommandLine.Parse(["--port", "9100"]));

        Assert.Equal("/srv/dc-data", settings.DataDirectory);
        Assert.Equal(Path.Combine(_root.Path, "my-logs"), settings.LogDirectory);
        Assert.Equal("env:6379", settings.RedisConnectionString);
        Assert.Equal(9100, settings.Port);
        Assert.Equal("0.0.0.0", settings.Host);
        Assert.Equal([new Uri("http://gpu1:8188"), new Uri("http://gpu2:9000")], settings.ComfyNodes);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("garnet")]
    [InlineData(" Garnet ")]
    public void WithoutARedisServerSettingTheEmbeddedGarnetRuns(string? setting)
    {
        // Act
        var settings = _root.Settings(setting is null ? [] : new() { ["ORCHESTRATOR_REDIS_SERVER"] = setting });

        // Assert
        Assert.Null(settings.RedisServerPath);
    }

    [Fact]
    public void ARedisServerNamedByItsNameIsFoundOnPath()
    {
        // Arrange
        var bin = Directory.CreateDirectory(Path.Combine(_root.Path, "bin")).FullName;
        TempSuiteDirectory.WriteExecutable(Path.Combine(bin, "redis-server"));

        // Act
        var settings = _root.Settings(new()
        {
            ["ORCHESTRATOR_REDIS_SERVER"] = "redis-server",
            ["PATH"] = $"{Path.Combine(_root.Path, "nothing-here")}{Path.PathSeparator}{bin}",
        });

        // Assert
        Assert.Equal(Path.Combine(bin, "redis-server"), settings.RedisServerPath);
        Assert.Null(settings.RedisConnectionString);
    }

    [Fact]
    public void ARedisServerPathInConfigYamlIsRelativeToTheFile()
    {
        // Arrange
        Directory.CreateDirectory(Path.Combine(_root.Path, "tools"));
        TempSuiteDirectory.WriteExecutable(Path.Combine(_root.Path, "tools", "redis-server"));
        File.WriteAllText(Path.Combine(_root.Path, "config.yaml"), "redis_server: ./tools/redis-server\n");

        // Act
        var settings = _root.Settings();

        // Assert
        Assert.Equal(Path.Combine(_root.Path, "tools", "redis-server"), settings.RedisServerPath);
    }

    [Theory]
    [InlineData("redis-server", "neither 'garnet' nor an executable found on PATH")]
    [InlineData("./missing/redis-server", "neither 'garnet' nor an executable found at that path")]
    public void ARedisServerThatIsNotThereIsRefusedAtStart(string setting, string expected)
    {
        // Act
        var error = Assert.Throws<AppHostConfigurationException>(() => _root.Settings(new()
        {
            ["ORCHESTRATOR_REDIS_SERVER"] = setting,
            ["PATH"] = Path.Combine(_root.Path, "empty-bin"),
        }));

        // Assert
        Assert.Contains($"is '{setting}', which is {expected}", error.Message, StringComparison.Ordinal);
        Assert.Contains("apt-get install redis-server", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFileOnPathThatIsNotExecutableIsNotTakenForTheRedisServer()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "Windows has no execute permission bits.");

        // Arrange: a plain file of that name first on PATH, the executable after it
        var plain = Directory.CreateDirectory(Path.Combine(_root.Path, "plain")).FullName;
        File.WriteAllText(Path.Combine(plain, "redis-server"), "");
        var bin = Directory.CreateDirectory(Path.Combine(_root.Path, "bin")).FullName;
        TempSuiteDirectory.WriteExecutable(Path.Combine(bin, "redis-server"));

        // Act
        var settings = _root.Settings(new() { ["ORCHESTRATOR_REDIS_SERVER"] = "redis-server", ["PATH"] = $"{plain}{Path.PathSeparator}{bin}" });

        // Assert
        Assert.Equal(Path.Combine(bin, "redis-server"), settings.RedisServerPath);
    }

    [Fact]
    public void ARedisServerToRunAndAServerToUseAreNotBothTaken()
    {
        // Arrange
        File.WriteAllText(Path.Combine(_root.Path, "config.yaml"), "redis: cache.lan:6379\nredis_server: redis-server\n");

        // Act
        var error = Assert.Throws<AppHostConfigurationException>(() => _root.Settings());

        // Assert
        Assert.Contains("set one of them", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("data_dir: ./data\nbackends: [\n", "line 3")]
    [InlineData("data_dir: ./data\n  log_dir: oops: here\n", "line 2")]
    [InlineData("- just\n- a list\n", "the top level must be a mapping")]
    [InlineData("data_dir:\n  nested: map\n", "'data_dir' must be a single value")]
    [InlineData("backends:\n  - id: x\n    port: 8188\n", "a backend needs a 'host'")]
    [InlineData("backends:\n  - host: x\n    port: big\n", "'port' must be a TCP port")]
    public void MalformedConfigNamesTheFileTheLineAndTheReason(string yaml, string expected)
    {
        var file = Path.Combine(_root.Path, "config.yaml");
        File.WriteAllText(file, yaml);

        var error = Assert.Throws<AppHostConfigurationException>(() => _root.Settings());

        Assert.Contains($"'{file}' is malformed at line ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ORCHESTRATOR_PORT", "http", "ORCHESTRATOR_PORT must be a TCP port")]
    [InlineData("ORCHESTRATOR_HOST", "not a host!", "ORCHESTRATOR_HOST must be a host name")]
    [InlineData("ORCHESTRATOR_COMFY_NODES", "ftp://gpu1", "is not a ComfyUI address")]
    public void BadEnvironmentValuesAreRejected(string variable, string value, string expected)
    {
        var error = Assert.Throws<AppHostConfigurationException>(() => _root.Settings(new() { [variable] = value }));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEmptyConfigFileMeansDefaults()
    {
        File.WriteAllText(Path.Combine(_root.Path, "config.yaml"), "# nothing yet\n");

        Assert.Equal(Path.Combine(_root.Path, "data"), _root.Settings().DataDirectory);
    }
}
