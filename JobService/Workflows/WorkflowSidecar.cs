using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace DirectorsConsole.JobService.Workflows;

/// <summary>
/// The optional <c>&lt;id&gt;.yaml</c> beside a workflow: a name, a description, named parameters bound to node inputs
/// and the nodes that take the seed.
/// <code>
/// name: Text to image (SDXL)
/// description: SDXL base, one pass
/// parameters:
///   prompt: 6.text                      # one node input
///   negative: [7.text, 12.text]         # several inputs get the same value
///   resolution: [5.width, 5.height]     # "1024x768" or [1024, 768] splits into width, height
///   steps:                              # long form
///     targets: [3.steps]
///     type: int                         # int, float, string, bool or resolution; default: like the current value
///     description: Sampling steps
/// seed_nodes: [3]                       # default: every literal seed / noise_seed input
/// endpoint: jobs/txt2img                # optional: submit with POST /api/v1/jobs/txt2img {"initial_data": {...}}
/// </code>
/// A target is <c>nodeId.input</c> (<c>nodeId:input</c> is accepted too). The same document in JSON is accepted by
/// <c>PUT /api/workflows/{id}</c>.
/// </summary>
public sealed record WorkflowSidecar
{
    public string? Name { get; init; }

    public string? Description { get; init; }

    public IReadOnlyDictionary<string, WorkflowParameter> Parameters { get; init; } = new Dictionary<string, WorkflowParameter>();

    /// <summary>Null: the seed goes into every literal seed input.</summary>
    public IReadOnlyList<string>? SeedNodes { get; init; }

    /// <summary>The path below <c>/api/{api_version}/</c> that submits this workflow with its parameters as
    /// <c>initial_data</c> (e.g. <c>jobs/simple_flow</c>); null when it has none.</summary>
    public string? Endpoint { get; init; }

    /// <summary>Lower-case letters, digits, '_' and '-' in one or more segments separated by '/'.</summary>
    public const string EndpointRule = "an endpoint is one or more segments of lower-case letters, digits, '_' or '-' separated by '/', e.g. jobs/simple_flow";

    /// <summary>Why <paramref name="endpoint"/> cannot be an endpoint, or null when it can. <c>jobs/{id}/cancel</c> is
    /// the cancel route and cannot be taken by a workflow.</summary>
    public static string? EndpointProblem(string endpoint) =>
        endpoint.Length is 0 or > 128 || !endpoint.Split('/').All(segment => segment.Length > 0 && segment.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '-'))
            ? EndpointRule
            : endpoint.Split('/') is ["jobs", _, "cancel"] ? "jobs/{id}/cancel is the cancel route; choose another endpoint"
            : null;

    /// <summary>Reads a sidecar from YAML.</summary>
    /// <exception cref="WorkflowSidecarException">The YAML is malformed or not a sidecar.</exception>
    public static WorkflowSidecar ParseYaml(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new WorkflowSidecarException($"malformed YAML at line {ex.Start.Line}, column {ex.Start.Column}: {(ex.InnerException ?? ex).Message}");
        }
        catch (InvalidOperationException ex)
        {
            throw new WorkflowSidecarException($"malformed YAML: {ex.Message}");
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return new WorkflowSidecar();
        }

        return FromJson(ToJson(stream.Documents[0].RootNode));
    }

    /// <summary>Reads a sidecar from its JSON form (the same keys as the YAML).</summary>
    /// <exception cref="WorkflowSidecarException">It is not a sidecar.</exception>
    public static WorkflowSidecar FromJson(JsonNode? node)
    {
        if (node is not JsonObject root)
        {
            throw new WorkflowSidecarException("a sidecar must be a mapping with name, description, parameters, seed_nodes and endpoint");
        }

        foreach (var (key, _) in root)
        {
            if (key is not ("name" or "description" or "parameters" or "seed_nodes" or "endpoint"))
            {
                throw new WorkflowSidecarException($"unknown key '{key}'; a sidecar has name, description, parameters, seed_nodes and endpoint");
            }
        }

        var parameters = new Dictionary<string, WorkflowParameter>(StringComparer.Ordinal);
        switch (root["parameters"])
        {
            case null:
                break;
            case JsonObject map:
                foreach (var (name, value) in map)
                {
                    parameters[name] = WorkflowParameter.FromJson(name, value);
                }

                break;
            default:
                throw new WorkflowSidecarException("parameters must be a mapping of parameter name to node inputs");
        }

        var endpoint = OptionalText(root, "endpoint")?.Trim('/');
        if (endpoint is not null && EndpointProblem(endpoint) is { } endpointProblem)
        {
            throw new WorkflowSidecarException($"endpoint '{endpoint}': {endpointProblem}");
        }

        return new WorkflowSidecar
        {
            Endpoint = endpoint,
            Name = OptionalText(root, "name"),
            Description = OptionalText(root, "description"),
            Parameters = parameters,
            SeedNodes = root["seed_nodes"] switch
            {
                null => null,
                JsonArray list => list.Select(item => Scalar(item) ?? throw new WorkflowSidecarException("seed_nodes must list node ids")).ToArray(),
                var single when Scalar(single) is { } id => [id],
                _ => throw new WorkflowSidecarException("seed_nodes must list node ids"),
            },
        };
    }

    /// <summary>The JSON form, with every parameter in the long form (as <c>GET /api/workflows/{id}</c> shows it).</summary>
    public JsonObject ToJson()
    {
        var parameters = new JsonObject();
        foreach (var (name, parameter) in Parameters)
        {
            parameters[name] = parameter.ToJson();
        }

        var json = new JsonObject { ["name"] = Name, ["description"] = Description, ["parameters"] = parameters };
        json["seed_nodes"] = SeedNodes is null ? null : new JsonArray(SeedNodes.Select(id => (JsonNode)id).ToArray());
        json["endpoint"] = Endpoint;
        return json;
    }

    /// <summary>The YAML written to <c>&lt;id&gt;.yaml</c>.</summary>
    public string ToYaml()
    {
        var root = new YamlMappingNode();
        if (Name is not null)
        {
            root.Add("name", Quoted(Name));
        }

        if (Description is not null)
        {
            root.Add("description", Quoted(Description));
        }

        if (Parameters.Count > 0)
        {
            var parameters = new YamlMappingNode();
            foreach (var (name, parameter) in Parameters)
            {
                var targets = new YamlSequenceNode(parameter.Targets.Select(t => new YamlScalarNode(t.ToString()))) { Style = SequenceStyle.Flow };
                if (parameter.Type is null && parameter.Description is null)
                {
                    parameters.Add(name, parameter.Targets.Count == 1 ? new YamlScalarNode(parameter.Targets[0].ToString()) : (YamlNode)targets);
                    continue;
                }

                var longForm = new YamlMappingNode { { "targets", targets } };
                if (parameter.Type is not null)
                {
                    longForm.Add("type", parameter.Type);
                }

                if (parameter.Description is not null)
                {
                    longForm.Add("description", Quoted(parameter.Description));
                }

                parameters.Add(name, longForm);
            }

            root.Add("parameters", parameters);
        }

        if (SeedNodes is not null)
        {
            root.Add("seed_nodes", new YamlSequenceNode(SeedNodes.Select(id => new YamlScalarNode(id) { Style = ScalarStyle.DoubleQuoted })) { Style = SequenceStyle.Flow });
        }

        if (Endpoint is not null)
        {
            root.Add("endpoint", Endpoint);
        }

        using var writer = new StringWriter();
        new YamlStream(new YamlDocument(root)).Save(writer, assignAnchors: false);
        // YamlDotNet ends every document with an explicit "..." marker; a hand-edited sidecar reads better without it.
        return writer.ToString().Replace("\n...\n", "\n", StringComparison.Ordinal).TrimEnd() + "\n";
    }

    private static YamlScalarNode Quoted(string text) => new(text) { Style = ScalarStyle.DoubleQuoted };

    private static string? OptionalText(JsonObject root, string key) => root[key] switch
    {
        null => null,
        var value when Scalar(value) is { } text => text,
        _ => throw new WorkflowSidecarException($"{key} must be text"),
    };

    internal static string? Scalar(JsonNode? node) => node is JsonValue value
        ? value.GetValueKind() switch
        {
            JsonValueKind.String => value.GetValue<string>(),
            JsonValueKind.Number => value.ToJsonString(),
            _ => null,
        }
        : null;

    // YAML scalars stay text: the sidecar's values are node references and names, never numbers to compute with.
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode mapping => new JsonObject(mapping.Children.Select(pair =>
            KeyValuePair.Create(((YamlScalarNode)pair.Key).Value ?? "", ToJson(pair.Value)))),
        YamlSequenceNode sequence => new JsonArray(sequence.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Value: null or "~" or "null" } scalar when scalar.Style == ScalarStyle.Plain => null,
        YamlScalarNode scalar => JsonValue.Create(scalar.Value ?? ""),
        _ => throw new WorkflowSidecarException($"unsupported YAML node at line {node.Start.Line}"),
    };
}

/// <summary>A named parameter: the node inputs that receive its value, its type when declared, and what it is for.</summary>
public sealed record WorkflowParameter(IReadOnlyList<NodeInputRef> Targets, string? Type = null, string? Description = null)
{
    public static IReadOnlyList<string> Types { get; } = ["int", "float", "string", "bool", "resolution"];

    public static WorkflowParameter FromJson(string name, JsonNode? node)
    {
        switch (node)
        {
            case JsonObject longForm:
                foreach (var (key, _) in longForm)
                {
                    if (key is not ("targets" or "target" or "type" or "description"))
                    {
                        throw new WorkflowSidecarException($"parameter '{name}' has an unknown key '{key}'; use targets, type and description");
                    }
                }

                var type = WorkflowSidecar.Scalar(longForm["type"]);
                if (type is not null && !Types.Contains(type))
                {
                    throw new WorkflowSidecarException($"parameter '{name}' has type '{type}'; use one of {string.Join(", ", Types)}");
                }

                return new WorkflowParameter(
                    ReadTargets(name, longForm["targets"] ?? longForm["target"]),
                    type,
                    WorkflowSidecar.Scalar(longForm["description"]));
            default:
                return new WorkflowParameter(ReadTargets(name, node));
        }
    }

    public JsonObject ToJson() => new()
    {
        ["targets"] = new JsonArray(Targets.Select(t => (JsonNode)t.ToString()).ToArray()),
        ["type"] = Type,
        ["description"] = Description,
    };

    private static NodeInputRef[] ReadTargets(string name, JsonNode? node)
    {
        var items = node switch
        {
            JsonArray list => list.ToArray(),
            null => [],
            _ => [node],
        };
        if (items.Length == 0)
        {
            throw new WorkflowSidecarException($"parameter '{name}' names no node input; write it as nodeId.input, e.g. 6.text");
        }

        return items.Select(item => WorkflowSidecar.Scalar(item) is { } text && NodeInputRef.TryParse(text, out var target)
            ? target
            : throw new WorkflowSidecarException($"parameter '{name}' has the target {item?.ToJsonString() ?? "null"}; write it as nodeId.input, e.g. 6.text")).ToArray();
    }
}

/// <summary>One input of one node: <c>6.text</c> (or <c>6:text</c>, the original's parameter key form).</summary>
public readonly record struct NodeInputRef(string NodeId, string Input)
{
    public static bool TryParse(string text, out NodeInputRef target)
    {
        // Input names never hold '.' or ':', node ids might (e.g. "12:3" in grouped nodes), so split at the last one.
        var separator = text.LastIndexOfAny(['.', ':']);
        if (separator <= 0 || separator == text.Length - 1)
        {
            target = default;
            return false;
        }

        target = new NodeInputRef(text[..separator].Trim(), text[(separator + 1)..].Trim());
        return target.NodeId.Length > 0 && target.Input.Length > 0;
    }

    public override string ToString() => $"{NodeId}.{Input}";
}

/// <summary>A sidecar that cannot be read; the message says what is wrong in the author's terms.</summary>
public sealed class WorkflowSidecarException(string message) : Exception(message);
