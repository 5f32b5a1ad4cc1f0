namespace DirectorsConsole.RenderAgent.Tests;

public sealed class AgentOptionsTests
{
    [Fact]
    public void Settings_that_cannot_work_are_refused_at_start_naming_their_key()
    {
        // Arrange
        var options = new AgentOptions
        {
            Orchestrator = new Uri("ftp://studio/"),
            ComfyUi = null,
            Token = " ",
            WorkerId = "../gpu",
            MaxConcurrentJobs = 0,
            Prefetch = 17,
            RetryMinDelay = TimeSpan.FromSeconds(2),
            RetryMaxDelay = TimeSpan.FromSeconds(1),
        };

        // Act
        var result = new AgentOptionsValidator().Validate(null, options);

        // Assert
        Assert.True(result.Failed);
        foreach (var key in new[] { "Agent:Orchestrator", "Agent:ComfyUi", "Agent:Token", "Agent:WorkerId", "Agent:MaxConcurrentJobs", "Agent:Prefetch", "Agent:RetryMaxDelay" })
        {
            Assert.Contains(result.Failures!, failure => failure.StartsWith(key, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void The_defaults_with_the_four_required_settings_are_valid()
    {
        // Arrange
        var options = new AgentOptions
        {
            Orchestrator = new Uri("http://studio:9820"),
            ComfyUi = new Uri("http://127.0.0.1:8188"),
            Token = "secret",
            WorkerId = "gpu-home",
        };

        // Act
        var result = new AgentOptionsValidator().Validate(null, options);

        // Assert
        Assert.True(result.Succeeded);
        Assert.Equal(new Uri("http://studio:9820/"), options.OrchestratorBase);
        Assert.Equal(2, options.Slots);
    }
}
