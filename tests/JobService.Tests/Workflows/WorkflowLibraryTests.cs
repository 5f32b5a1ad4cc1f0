using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Workflows;
using DirectorsConsole.ServiceDefaults.Configuration;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Tests.Workflows;

public sealed class WorkflowLibraryTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("dc-workflows-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private WorkflowLibrary Library() => new(
        Options.Create(new WorkflowLibraryOptions { WorkflowsDir = _folder }),
        Options.Create(new OrchestratorOptions()));

    private static JsonObject Graph(int width)
    {
        var graph = JsonNode.Parse("""
            {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}
            """)!.AsObject();
        graph["1"]!["inputs"]!["width"] = width;
        return graph;
    }

    [Theory]
    [InlineData("a\0b", "control character U+0000")]
    [InlineData("shot\n", "control character U+000A")]
    [InlineData("..", "cannot be a path")]
    [InlineData("PRN.json", "Windows device name")]
    [InlineData("com\u00B9", "Windows device name")]
    [InlineData("", "empty")]
    public async Task IdThatIsNoPortableFileNameIsRefusedAndNeverWritten(string id, string reason)
    {
        // Arrange
        var library = Library();

        // Act
        var problem = WorkflowLibrary.IdProblem(id);

        // Assert
        Assert.Contains(reason, problem);
        Assert.False(WorkflowLibrary.IsValidId(id));
        await Assert.ThrowsAsync<ArgumentException>(() => library.SaveAsync(id, Graph(8), null, false, TestContext.Current.CancellationToken));
        Assert.Null(await library.FindAsync(id, TestContext.Current.CancellationToken));
        Assert.Empty(Directory.GetFiles(_folder));
    }

    [Fact]
    public void RelativeFolderIsResolvedAgainstConfigYamlsFolder()
    {
        // Arrange
        var configFile = Path.Combine(_folder, "conf", "config.yaml");

        // Act
        var library = new WorkflowLibrary(Options.Create(new WorkflowLibraryOptions()), Options.Create(new OrchestratorOptions { ConfigFile = configFile }));

        // Assert
        Assert.Equal(Path.Combine(_folder, "conf", "workflows"), library.Directory);
    }

    [Fact]
    public async Task SavedWorkflowReadsBackWithItsSidecarAndLeavesNoTemporaryFile()
    {
        // Arrange
        var library = Library();
        var sidecar = WorkflowSidecar.ParseYaml("name: Tiny\nparameters:\n  size: [1.width, 1.height]\n");

        // Act
        var first = await library.SaveAsync("tiny", Graph(16), sidecar, removeSidecar: false, TestContext.Current.CancellationToken);
        var second = await library.SaveAsync("tiny", Graph(32), null, removeSidecar: false, TestContext.Current.CancellationToken);
        var found = await library.FindAsync("tiny", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(WorkflowSaveOutcome.Created, first);
        Assert.Equal(WorkflowSaveOutcome.Replaced, second);
        Assert.Equal(32, (long)found!.Prompt["1"]!["inputs"]!["width"]!);
        Assert.Equal("Tiny", found.Name);
        Assert.Equal(["tiny.json", "tiny.yaml"], Directory.GetFiles(_folder).Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task FileChangedOnDiskByAnotherReplicaIsReadAgain()
    {
        // Arrange
        var library = Library();
        await library.SaveAsync("shared", Graph(16), null, removeSidecar: false, TestContext.Current.CancellationToken);
        _ = await library.FindAsync("shared", TestContext.Current.CancellationToken);

        // Act
        var path = Path.Combine(_folder, "shared.json");
        await File.WriteAllTextAsync(path, Graph(640).ToJsonString(), TestContext.Current.CancellationToken);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        var found = await library.FindAsync("shared", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(640, (long)found!.Prompt["1"]!["inputs"]!["width"]!);
    }

    [Fact]
    public async Task CallersGetTheirOwnCopyOfThePrompt()
    {
        // Arrange
        var library = Library();
        await library.SaveAsync("mine", Graph(16), null, removeSidecar: false, TestContext.Current.CancellationToken);
        var first = await library.FindAsync("mine", TestContext.Current.CancellationToken);

        // Act
        first!.Prompt["1"]!["inputs"]!["width"] = 999;
        var second = await library.FindAsync("mine", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(16, (long)second!.Prompt["1"]!["inputs"]!["width"]!);
    }

    [Fact]
    public async Task BrokenFilesAreListedWithTheReasonAndThrowWhenFound()
    {
        // Arrange
        var library = Library();
        await File.WriteAllTextAsync(Path.Combine(_folder, "ui.json"), """{"nodes": [], "links": []}""", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(Path.Combine(_folder, "half.json"), """{"1": {"class_type": """, TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(Path.Combine(_folder, ".hidden.json"), "{}", TestContext.Current.CancellationToken);

        // Act
        var entries = await library.ListAsync(TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(["half", "ui"], entries.Select(e => e.Id));
        Assert.All(entries, e => Assert.Null(e.Definition));
        Assert.Contains("not valid JSON", entries[0].Error);
        Assert.Contains("UI-format", entries[1].Error);
        await Assert.ThrowsAsync<InvalidWorkflowFileException>(() => library.FindAsync("ui", TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("txt2img_sdxl", true)]
    [InlineData("v1.5-base", true)]
    [InlineData("_private", false)]
    [InlineData("../escape", false)]
    [InlineData("a b", false)]
    [InlineData("", false)]
    public void IdsAreFileNamesWithoutPathsOrSpaces(string id, bool valid)
    {
        // Act
        var result = WorkflowLibrary.IsValidId(id);

        // Assert
        Assert.Equal(valid, result);
    }

    [Fact]
    public void GraphValidationNamesEveryProblem()
    {
        // Arrange
        var graph = JsonNode.Parse("""
            {"1": {"inputs": {}}, "2": {"class_type": "SaveImage", "inputs": {"images": ["9", 0]}}, "3": 5,
             "4": {"class_type": "VAEDecode", "inputs": {"samples": [1, 2, 3]}}}
            """);

        // Act
        var problems = ApiWorkflow.Validate(graph);

        // Assert
        Assert.Equal(["1.class_type", "2.inputs.images", "3", "4.inputs.samples"], problems.Select(p => string.Join('.', p.Location)));
        Assert.Contains("node 9", problems[1].Message);
    }
}
