using DirectorsConsole.GalleryService.Paths;
using DirectorsConsole.ServiceDefaults.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Paths;

public sealed class ProjectRootsOptionsTests
{
    private static readonly OrchestratorOptions Orchestrator = new() { ConfigFile = "/etc/dc/config.yaml", DataDir = "/var/dc/data" };

    [Fact]
    public void MergesTheConfigListWithThePathSeparatedVariable()
    {
        // Arrange
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["project_roots:0"] = "/mnt/Mandalore/Projects",
            ["project_roots:1"] = "relative/projects",
            ["PROJECT_ROOTS"] = string.Join(Path.PathSeparator, "/mnt/Kessel", "/mnt/Mandalore/Projects/"),
        }).Build();
        var options = new ProjectRootsOptions();

        // Act
        new ProjectRootsOptions.Setup(configuration, Options.Create(Orchestrator)).Configure(options);

        // Assert
        Assert.Equal(["/mnt/Mandalore/Projects", "/etc/dc/relative/projects", "/mnt/Kessel"], options.Roots);
    }

    [Fact]
    public void DefaultsToTheProjectsFolderOfTheDataDirectory()
    {
        // Arrange
        var configuration = new ConfigurationBuilder().Build();
        var options = new ProjectRootsOptions();

        // Act
        new ProjectRootsOptions.Setup(configuration, Options.Create(Orchestrator)).Configure(options);

        // Assert
        Assert.Equal(["/var/dc/data/projects"], options.Roots);
    }
}
