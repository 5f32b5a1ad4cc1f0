using DirectorsConsole.ServiceDefaults.Logging;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.ServiceDefaults.Tests.Logging;

public sealed class RollingFileLoggerTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("dc-logs-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void FileRollsOverAtTheSizeLimitAndKeepsOlderFiles()
    {
        // Arrange
        var path = Path.Combine(_folder, "job-service.log");
        var provider = new RollingFileLoggerProvider(path, maxBytes: 4096);
        var logger = provider.CreateLogger("Test");

        // Act
        for (var i = 0; i < 200; i++)
        {
            logger.LogInformation("line {Index} {Padding}", i, new string('x', 60));
        }

        provider.Dispose();

        // Assert
        Assert.True(File.Exists(path));
        Assert.True(File.Exists($"{path}.1"));
        Assert.False(File.Exists($"{path}.{RollingFileLoggerProvider.RetainedFiles + 1}"));
        Assert.All(Directory.GetFiles(_folder), file => Assert.True(new FileInfo(file).Length <= 4096 + 200));
        Assert.Contains("line 199", File.ReadAllText(path));
    }

    [Fact]
    public void LinesCarryLevelCategoryAndException()
    {
        // Arrange
        var path = Path.Combine(_folder, "path-service.log");
        var provider = new RollingFileLoggerProvider(path);

        // Act
        provider.CreateLogger("Paths").LogError(new InvalidOperationException("boom"), "failed {What}", "import");
        provider.Dispose();

        // Assert
        var text = File.ReadAllText(path);
        Assert.Contains("fail Paths: failed import", text);
        Assert.Contains("InvalidOperationException: boom", text);
    }
}
