using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Workflows;

namespace DirectorsConsole.JobService.Tests.Workflows;

public sealed class WorkflowSidecarTests
{
    [Fact]
    public void ShortAndLongFormsAreRead()
    {
        // Arrange
        const string yaml = """
            name: Text to image (SDXL)
            description: one pass
            parameters:
              prompt: 6.text
              resolution: [5.width, 5.height]
              steps:
                targets: [3.steps]
                type: int
                description: Sampling steps
              fps: "12:frame_rate"
            seed_nodes: [3]
            """;

        // Act
        var sidecar = WorkflowSidecar.ParseYaml(yaml);

        // Assert
        Assert.Equal("Text to image (SDXL)", sidecar.Name);
        Assert.Equal("one pass", sidecar.Description);
        Assert.Equal([new NodeInputRef("6", "text")], sidecar.Parameters["prompt"].Targets);
        Assert.Equal([new NodeInputRef("5", "width"), new NodeInputRef("5", "height")], sidecar.Parameters["resolution"].Targets);
        Assert.Equal("int", sidecar.Parameters["steps"].Type);
        Assert.Equal("Sampling steps", sidecar.Parameters["steps"].Description);
        Assert.Equal(new NodeInputRef("12", "frame_rate"), sidecar.Parameters["fps"].Targets[0]);
        Assert.Equal(["3"], sidecar.SeedNodes);
    }

    [Fact]
    public void TheEndpointIsReadAndWrittenBack()
    {
        // Act
        var sidecar = WorkflowSidecar.ParseYaml("name: Flow\nendpoint: /jobs/simple_flow/\n");
        var again = WorkflowSidecar.ParseYaml(sidecar.ToYaml());

        // Assert
        Assert.Equal("jobs/simple_flow", sidecar.Endpoint);
        Assert.Equal("jobs/simple_flow", again.Endpoint);
        Assert.Equal("jobs/simple_flow", (string?)sidecar.ToJson()["endpoint"]);
    }

    [Theory]
    [InlineData("parameters: [1, 2]", "parameters must be a mapping")]
    [InlineData("parameters:\n  prompt: text", "write it as nodeId.input")]
    [InlineData("parameters:\n  steps: {targets: [3.steps], type: integer}", "has type 'integer'")]
    [InlineData("colour: red", "unknown key 'colour'")]
    [InlineData("name: [unclosed", "malformed YAML")]
    [InlineData("endpoint: Jobs/Flow", "lower-case letters")]
    [InlineData("endpoint: jobs//flow", "lower-case letters")]
    [InlineData("endpoint: jobs/abc/cancel", "the cancel route")]
    public void MistakesAreExplained(string yaml, string expected)
    {
        // Act
        var error = Assert.Throws<WorkflowSidecarException>(() => WorkflowSidecar.ParseYaml(yaml));

        // Assert
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void YamlWrittenForASidecarReadsBackTheSame()
    {
        // Arrange
        var sidecar = WorkflowSidecar.FromJson(JsonNode.Parse("""
            {"name": "Shot: \"A\" #1", "parameters": {"prompt": "6.text", "look": {"targets": ["7.text", "8.text"], "type": "string", "description": "colour grade"}},
             "seed_nodes": ["3"]}
            """));

        // Act
        var yaml = sidecar.ToYaml();
        var reread = WorkflowSidecar.ParseYaml(yaml);

        // Assert
        Assert.Equal(sidecar.Name, reread.Name);
        Assert.Equal(sidecar.ToJson().ToJsonString(), reread.ToJson().ToJsonString());
        Assert.DoesNotContain("...", yaml);
    }

    [Fact]
    public void EmptyFileIsASidecarWithNothingInIt()
    {
        // Act
        var sidecar = WorkflowSidecar.ParseYaml("");

        // Assert
        Assert.Null(sidecar.Name);
        Assert.Empty(sidecar.Parameters);
        Assert.Null(sidecar.SeedNodes);
    }
}
