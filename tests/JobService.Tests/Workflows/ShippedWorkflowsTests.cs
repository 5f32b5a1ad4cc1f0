using DirectorsConsole.JobService.Workflows;

namespace DirectorsConsole.JobService.Tests.Workflows;

public sealed class ShippedWorkflowsTests
{
    public static TheoryData<string> Ids => new("test_progress", "empty_image", "txt2img_sdxl");

    [Theory]
    [MemberData(nameof(Ids))]
    public void ExampleIsAnApiFormatWorkflowWithAMatchingSidecar(string id)
    {
        // Arrange
        var prompt = ShippedWorkflows.Prompt(id);

        // Act
        var problems = ApiWorkflow.Validate(prompt);
        var sidecar = ShippedWorkflows.Sidecar(id);

        // Assert
        Assert.Empty(problems);
        Assert.False(string.IsNullOrWhiteSpace(sidecar.Name));
        Assert.Empty(WorkflowLibrary.ValidateSidecar(sidecar, prompt));
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void EverySidecarParameterBinds(string id)
    {
        // Arrange
        var prompt = ShippedWorkflows.Prompt(id);
        var sidecar = ShippedWorkflows.Sidecar(id);

        // Act: give each parameter the value it already has, so the types fit
        var parameters = new System.Text.Json.Nodes.JsonObject();
        foreach (var (name, parameter) in sidecar.Parameters)
        {
            parameters[name] = parameter.Type == "resolution" || name == "resolution"
                ? new System.Text.Json.Nodes.JsonArray(
                    prompt[parameter.Targets[0].NodeId]!["inputs"]![parameter.Targets[0].Input]!.DeepClone(),
                    prompt[parameter.Targets[1].NodeId]!["inputs"]![parameter.Targets[1].Input]!.DeepClone())
                : prompt[parameter.Targets[0].NodeId]!["inputs"]![parameter.Targets[0].Input]!.DeepClone();
        }

        var result = ParameterBinder.Apply(prompt, sidecar, parameters);

        // Assert
        Assert.True(result.IsValid, string.Join("; ", result.Errors.Select(e => $"{e.Name}: {e.Message}")));
        Assert.Empty(result.Ignored);
    }

    [Fact]
    public void TestProgressRunsQuicklyOnTheEmulatorNode()
    {
        // Act
        var prompt = ShippedWorkflows.Prompt("test_progress");

        // Assert
        Assert.Equal("TestProgressImage", ApiWorkflow.ClassType(prompt["1"]));
        Assert.Equal("SaveImage", ApiWorkflow.ClassType(prompt["2"]));
        Assert.True((long)prompt["1"]!["inputs"]!["steps"]! * (long)prompt["1"]!["inputs"]!["delay_ms"]! <= 2000);
    }
}
