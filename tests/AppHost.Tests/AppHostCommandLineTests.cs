using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Tests;

public sealed class AppHostCommandLineTests
{
    [Fact]
    public void RepeatedReplicasAreAllKept()
    {
        // Act
        var commandLine = AppHostCommandLine.Parse(["--replicas", "a=2", "--replicas", "b=3"]);

        // Assert
        Assert.Equal(new Dictionary<string, int> { ["a"] = 2, ["b"] = 3 }, commandLine.Replicas);
        Assert.Null(commandLine.Port);
        Assert.False(commandLine.Help);
    }

    [Fact]
    public void InlineValuesAreAccepted()
    {
        var commandLine = AppHostCommandLine.Parse(["--replicas=job-service=2", "--port=9900"]);

        Assert.Equal(2, commandLine.Replicas["job-service"]);
        Assert.Equal(9900, commandLine.Port);
    }

    [Theory]
    [InlineData(new[] { "--replicas" }, "--replicas needs a value")]
    [InlineData(new[] { "--replicas", "job-service" }, "expects NAME=N")]
    [InlineData(new[] { "--replicas", "=2" }, "expects NAME=N")]
    [InlineData(new[] { "--replicas", "job-service=0" }, "from 1 to 16, not '0'")]
    [InlineData(new[] { "--replicas", "job-service=two" }, "not 'two'")]
    [InlineData(new[] { "--replicas", "a=2", "--replicas", "a=3" }, "names 'a' twice")]
    [InlineData(new[] { "--port", "70000" }, "--port must be a TCP port from 1 to 65535, not '70000'")]
    [InlineData(new[] { "--port", "--replicas" }, "--port needs a value")]
    [InlineData(new[] { "--verbose" }, "Unknown argument '--verbose'")]
    public void BadArgumentsAreRejectedWithAClearMessage(string[] args, string expected)
    {
        var error = Assert.Throws<AppHostConfigurationException>(() => AppHostCommandLine.Parse(args));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HelpIsRecognised()
    {
        Assert.True(AppHostCommandLine.WantsHelp(["--port", "1", "--help"]));
        Assert.True(AppHostCommandLine.Parse(["-h"]).Help);
        Assert.Contains("--replicas NAME=N", AppHostCommandLine.Usage, StringComparison.Ordinal);
        Assert.Contains("--agents N", AppHostCommandLine.Usage, StringComparison.Ordinal);
    }
}
