using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Configuration;
using DirectorsConsole.ServiceDefaults.Paths;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Workflows;

/// <summary>A workflow of the library: the API-format prompt and its sidecar, if it has one.</summary>
public sealed record WorkflowDefinition(string Id, JsonObject Prompt, WorkflowSidecar? Sidecar, DateTimeOffset ModifiedAt)
{
    public string Name => Sidecar?.Name ?? Id;

    public string? Description => Sidecar?.Description;

    /// <summary>The sidecar's parameter names; empty without a sidecar (the well-known names still apply).</summary>
    public IReadOnlyList<string> ParameterNames => Sidecar?.Parameters.Keys.ToArray() ?? [];
}

/// <summary>A file of the library as a listing shows it: its definition, or why it cannot be read.</summary>
public sealed record WorkflowEntry(string Id, WorkflowDefinition? Definition, string? Error);

public enum WorkflowSaveOutcome { Created, Replaced }

/// <summary>
/// The folder of ComfyUI API-format workflows (<c>&lt;id&gt;.json</c>, each with an optional <c>&lt;id&gt;.yaml</c>
/// sidecar). Several replicas share the folder, so nothing is kept but a parse cache keyed by each file's size and
/// modification time; writes go to a temporary file that is renamed into place, so no reader sees half a file.
/// </summary>
public sealed partial class WorkflowLibrary(IOptions<WorkflowLibraryOptions> options, IOptions<OrchestratorOptions> orchestrator)
{
    private static readonly JsonSerializerOptions WriteOptions = new() { WriteIndented = true };

    private readonly ConcurrentDictionary<string, CachedWorkflow> _cache = new(StringComparer.Ordinal);

    public string Directory { get; } = orchestrator.Value.Resolve(options.Value.WorkflowsDir);

    public const int MaxIdLength = 64;

    /// <summary>Ids are file names without <c>.json</c> (<see cref="PortableFileName"/>): a letter or digit, then
    /// letters, digits, '.', '_' or '-', at most <see cref="MaxIdLength"/>, not a Windows device name.</summary>
    public static bool IsValidId(string? id) => IdProblem(id) is null;

    public const string IdRule = "a workflow id starts with a letter or digit and has at most 64 letters, digits, '.', '_' or '-'";

    /// <summary>Why <paramref name="id"/> cannot name a workflow, or null when it can.</summary>
    public static string? IdProblem(string? id) =>
        PortableFileName.Problem(id, MaxIdLength) is { } problem ? $"{problem} ({IdRule}, not a Windows device name)"
        : !IdPattern().IsMatch(id!) ? IdRule
        : null;

    /// <summary>Every workflow in the folder, by id; files that cannot be read are listed with the reason.</summary>
    public async Task<IReadOnlyList<WorkflowEntry>> ListAsync(CancellationToken cancellationToken)
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return [];
        }

        var entries = new List<WorkflowEntry>();
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.json").Order(StringComparer.Ordinal))
        {
            var id = Path.GetFileNameWithoutExtension(file);
            if (!IsValidId(id))
            {
                continue;
            }

            try
            {
                if (await FindAsync(id, cancellationToken) is { } definition)
                {
                    entries.Add(new WorkflowEntry(id, definition, null));
                }
            }
            catch (InvalidWorkflowFileException ex)
            {
                entries.Add(new WorkflowEntry(id, null, ex.Message));
            }
        }

        return entries;
    }

    /// <summary>The workflow <paramref name="id"/>, or null when there is none. The prompt is the caller's own copy.</summary>
    /// <exception cref="InvalidWorkflowFileException">The stored file or its sidecar is not valid.</exception>
    public async Task<WorkflowDefinition?> FindAsync(string id, CancellationToken cancellationToken)
    {
        if (!IsValidId(id))
        {
            return null;
        }

        var json = new FileInfo(JsonPath(id));
        var yaml = new FileInfo(SidecarPath(id));
        if (!json.Exists)
        {
            _cache.TryRemove(id, out _);
            return null;
        }

        var stamp = new FileStamp(json.Length, json.LastWriteTimeUtc, yaml.Exists ? yaml.Length : -1, yaml.Exists ? yaml.LastWriteTimeUtc : default);
        if (!_cache.TryGetValue(id, out var cached) || cached.Stamp != stamp)
        {
            cached = new CachedWorkflow(stamp, await LoadAsync(id, json, yaml, cancellationToken));
            _cache[id] = cached;
        }

        return cached.Definition with { Prompt = (JsonObject)cached.Definition.Prompt.DeepClone() };
    }

    /// <summary>Writes the workflow (and the sidecar when given; <paramref name="removeSidecar"/> deletes an existing one).
    /// The caller has validated both (<see cref="ApiWorkflow.Validate"/>, <see cref="ValidateSidecar"/>).</summary>
    public async Task<WorkflowSaveOutcome> SaveAsync(string id, JsonObject prompt, WorkflowSidecar? sidecar, bool removeSidecar, CancellationToken cancellationToken)
    {
        if (!IsValidId(id))
        {
            throw new ArgumentException(IdRule, nameof(id));
        }

        System.IO.Directory.CreateDirectory(Directory);
        var existed = File.Exists(JsonPath(id));
        if (sidecar is not null)
        {
            await WriteAtomicallyAsync(SidecarPath(id), sidecar.ToYaml(), cancellationToken);
        }
        else if (removeSidecar)
        {
            File.Delete(SidecarPath(id));
        }

        await WriteAtomicallyAsync(JsonPath(id), prompt.ToJsonString(WriteOptions) + "\n", cancellationToken);
        _cache.TryRemove(id, out _);
        return existed ? WorkflowSaveOutcome.Replaced : WorkflowSaveOutcome.Created;
    }

    /// <summary>The workflows whose sidecar declares <paramref name="endpoint"/>, by id (more than one is a mistake
    /// the caller reports); files that cannot be read are skipped.</summary>
    public async Task<IReadOnlyList<WorkflowDefinition>> FindByEndpointAsync(string endpoint, CancellationToken cancellationToken) =>
        (await ListAsync(cancellationToken))
            .Select(entry => entry.Definition)
            .OfType<WorkflowDefinition>()
            .Where(definition => string.Equals(definition.Sidecar?.Endpoint, endpoint, StringComparison.Ordinal))
            .ToList();

    /// <summary>Deletes the workflow and its sidecar; false when there was none.</summary>
    public bool Delete(string id)
    {
        if (!IsValidId(id) || !File.Exists(JsonPath(id)))
        {
            return false;
        }

        File.Delete(JsonPath(id));
        File.Delete(SidecarPath(id));
        _cache.TryRemove(id, out _);
        return true;
    }

    /// <summary>Problems of a sidecar with this prompt: parameters and seed nodes must name nodes and inputs it has.</summary>
    public static IReadOnlyList<ApiWorkflow.Problem> ValidateSidecar(WorkflowSidecar sidecar, JsonObject prompt)
    {
        var problems = new List<ApiWorkflow.Problem>();
        foreach (var (name, parameter) in sidecar.Parameters)
        {
            foreach (var target in parameter.Targets)
            {
                var inputs = prompt[target.NodeId]?["inputs"] as JsonObject;
                var problem = inputs is null ? $"names node {target.NodeId}, which is not in the workflow"
                    : !inputs.TryGetPropertyValue(target.Input, out var current) ? $"names {target}, but node {target.NodeId} has no input '{target.Input}'"
                    : ApiWorkflow.IsLink(current) ? $"names {target}, which is linked to another node and cannot take a value"
                    : null;
                if (problem is not null)
                {
                    problems.Add(new ApiWorkflow.Problem(["parameters", name], problem, JsonValue.Create(target.ToString())));
                }
            }
        }

        foreach (var nodeId in sidecar.SeedNodes ?? [])
        {
            if (!prompt.ContainsKey(nodeId))
            {
                problems.Add(new ApiWorkflow.Problem(["seed_nodes"], $"names node {nodeId}, which is not in the workflow", JsonValue.Create(nodeId)));
            }
        }

        return problems;
    }

    private string JsonPath(string id) => Path.Combine(Directory, id + ".json");

    private string SidecarPath(string id) => Path.Combine(Directory, id + ".yaml");

    private static async Task<WorkflowDefinition> LoadAsync(string id, FileInfo json, FileInfo yaml, CancellationToken cancellationToken)
    {
        JsonNode? graph;
        try
        {
            graph = JsonNode.Parse(await File.ReadAllTextAsync(json.FullName, cancellationToken));
        }
        catch (JsonException ex)
        {
            throw new InvalidWorkflowFileException($"{json.Name} is not valid JSON: {ex.Message}");
        }
        catch (FileNotFoundException)
        {
            throw new InvalidWorkflowFileException($"{json.Name} was removed while it was read");
        }

        var problems = ApiWorkflow.Validate(graph);
        if (problems.Count > 0)
        {
            throw new InvalidWorkflowFileException($"{json.Name} is not an API-format workflow: {Describe(problems[0])}");
        }

        WorkflowSidecar? sidecar = null;
        if (yaml.Exists)
        {
            try
            {
                sidecar = WorkflowSidecar.ParseYaml(await File.ReadAllTextAsync(yaml.FullName, cancellationToken));
            }
            catch (WorkflowSidecarException ex)
            {
                throw new InvalidWorkflowFileException($"{yaml.Name}: {ex.Message}");
            }
            catch (FileNotFoundException)
            {
                sidecar = null;
            }
        }

        return new WorkflowDefinition(id, (JsonObject)graph!, sidecar, new DateTimeOffset(json.LastWriteTimeUtc, TimeSpan.Zero));
    }

    internal static string Describe(ApiWorkflow.Problem problem) =>
        problem.Location.Count == 0 ? problem.Message : $"{string.Join('.', problem.Location)}: {problem.Message}";

    private static async Task WriteAtomicallyAsync(string path, string content, CancellationToken cancellationToken)
    {
        // A dotted .tmp name in the same folder: never listed as a workflow, and the rename cannot cross file systems.
        var temporary = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await File.WriteAllTextAsync(temporary, content, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), cancellationToken);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex IdPattern();

    private readonly record struct FileStamp(long Length, DateTime Modified, long SidecarLength, DateTime SidecarModified);

    private sealed record CachedWorkflow(FileStamp Stamp, WorkflowDefinition Definition);
}

/// <summary>A stored workflow file (or its sidecar) that cannot be used; the message names the file and the problem.</summary>
public sealed class InvalidWorkflowFileException(string message) : Exception(message);
