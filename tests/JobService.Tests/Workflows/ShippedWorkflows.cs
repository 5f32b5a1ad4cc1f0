using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Workflows;

namespace DirectorsConsole.JobService.Tests.Workflows;

/// <summary>The example workflows in the repository's <c>workflows/</c> folder.</summary>
internal static class ShippedWorkflows
{
    public static string Folder { get; } = FindFolder();

    public static JsonObject Prompt(string id) => JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, id + ".json")))!.AsObject();

    public static WorkflowSidecar Sidecar(string id) => WorkflowSidecar.ParseYaml(File.ReadAllText(Path.Combine(Folder, id + ".yaml")));

    // From the test binaries (bin/… under the repository), else from where this file was compiled.
    private static string FindFolder([CallerFilePath] string sourceFile = "")
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(sourceFile) ?? "" })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "DirectorsConsole.sln")))
                {
                    return Path.Combine(directory.FullName, "workflows");
                }
            }
        }

        throw new DirectoryNotFoundException($"No DirectorsConsole.sln above {AppContext.BaseDirectory} or {sourceFile}.");
    }
}
