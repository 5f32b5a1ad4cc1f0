using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DirectorsConsole.Contracts;
using DirectorsConsole.ServiceDefaults.Errors;

namespace DirectorsConsole.JobService.Workflows;

/// <summary>A parameter that changed nothing, and why (returned to the caller, never dropped silently).</summary>
public sealed record IgnoredParameter(string Name, string Reason)
{
    public override string ToString() => $"{Name}: {Reason}";
}

/// <summary>A parameter whose value cannot be used: the caller's mistake, reported as a 422 naming it.</summary>
public sealed record ParameterError(string Name, string Type, string Message, JsonNode? Input);

/// <summary>What <see cref="ParameterBinder.Apply"/> made of a job's parameters.</summary>
/// <param name="Prompt">A copy of the prompt with the parameters written in; the library's copy is never changed.</param>
/// <param name="Seed">The <c>seed</c> parameter when one was given and the prompt has somewhere to put it; BackendService writes it.</param>
/// <param name="SeedNodes">The nodes that take the seed (the sidecar's <c>seed_nodes</c>, or the nodes of its <c>seed</c>
/// binding); null for every literal seed input.</param>
public sealed record ParameterResult(
    JsonObject Prompt,
    long? Seed,
    IReadOnlyList<string>? SeedNodes,
    IReadOnlyList<IgnoredParameter> Ignored,
    IReadOnlyList<ParameterError> Errors)
{
    public bool IsValid => Errors.Count == 0;

    /// <summary>The ignored parameters as <c>"name: reason"</c> lines, the form a job record keeps.</summary>
    public IReadOnlyList<string> IgnoredSummaries => Ignored.Select(i => i.ToString()).ToArray();

    /// <summary>Adds every error at <c>[..location, name]</c>, e.g. <c>AddErrorsTo(errors, "body", "parameters")</c>.</summary>
    public void AddErrorsTo(ValidationErrorList errors, params object[] location)
    {
        foreach (var error in Errors)
        {
            errors.Add(error.Type, error.Message, error.Input, [.. location, error.Name]);
        }
    }
}

/// <summary>
/// Applies a job's <c>parameters</c> to an API-format prompt. Each key is, in this order of precedence:
/// <list type="number">
/// <item>a parameter the workflow's sidecar names (<see cref="WorkflowSidecar.Parameters"/>);</item>
/// <item><c>"nodeId:input"</c>, as the original accepted (the input must exist in that node);</item>
/// <item>a well-known name: <c>prompt</c> and <c>negative</c> (the text encoders feeding the samplers' positive and
/// negative inputs), <c>steps</c>, <c>cfg</c> (or <c>cfg_scale</c>), <c>denoise</c>, <c>sampler_name</c>,
/// <c>scheduler</c>, <c>filename_prefix</c> (every literal input of that name), <c>width</c>, <c>height</c>,
/// <c>resolution</c> and <c>batch_size</c> (on <c>Empty…</c> nodes and TestProgressImage), and <c>seed</c>.</item>
/// </list>
/// Linked inputs (<c>[node_id, output_index]</c>) are never written over. A parameter that changes nothing is returned
/// in <see cref="ParameterResult.Ignored"/> with the reason; a value of the wrong type is a <see cref="ParameterError"/>.
/// </summary>
public static partial class ParameterBinder
{
    private enum Kind { Inferred, Int, PositiveInt, Float, String, Bool, Resolution, Seed }

    private static readonly Dictionary<string, (Kind Kind, string Input)> LiteralInputDefaults = new(StringComparer.Ordinal)
    {
        ["steps"] = (Kind.PositiveInt, "steps"),
        ["cfg"] = (Kind.Float, "cfg"),
        ["cfg_scale"] = (Kind.Float, "cfg"),
        ["denoise"] = (Kind.Float, "denoise"),
        ["sampler_name"] = (Kind.String, "sampler_name"),
        ["scheduler"] = (Kind.String, "scheduler"),
        ["filename_prefix"] = (Kind.String, "filename_prefix"),
    };

    private static readonly Dictionary<string, (Kind Kind, string Input)> ImageSizeDefaults = new(StringComparer.Ordinal)
    {
        ["width"] = (Kind.PositiveInt, "width"),
        ["height"] = (Kind.PositiveInt, "height"),
        ["batch_size"] = (Kind.PositiveInt, "batch_size"),
    };

    // Literal text inputs of the common text encoders (CLIPTextEncode, CLIPTextEncodeSDXL, CLIPTextEncodeFlux…).
    private static readonly string[] TextInputs = ["text", "text_g", "text_l", "clip_l", "t5xxl"];

    public static ParameterResult Apply(JsonObject prompt, WorkflowSidecar? sidecar, JsonObject? parameters)
    {
        var binding = new Binding((JsonObject)prompt.DeepClone(), sidecar?.SeedNodes);
        foreach (var (name, value) in parameters ?? [])
        {
            if (sidecar?.Parameters.TryGetValue(name, out var declared) == true)
            {
                binding.ApplyDeclared(name, declared, value);
            }
            else if (name.Contains(':') && NodeInputRef.TryParse(name, out var target))
            {
                binding.ApplyTargets(name, Kind.Inferred, [target], value);
            }
            else
            {
                binding.ApplyDefault(name, value, sidecar is not null);
            }
        }

        return binding.ToResult();
    }

    private sealed class Binding(JsonObject prompt, IReadOnlyList<string>? seedNodes)
    {
        private readonly List<IgnoredParameter> _ignored = [];
        private readonly List<ParameterError> _errors = [];
        private long? _seed;
        private IReadOnlyList<string>? _seedNodes = seedNodes;

        public ParameterResult ToResult() => new(prompt, _seed, _seedNodes, _ignored, _errors);

        public void ApplyDeclared(string name, WorkflowParameter declared, JsonNode? value)
        {
            if (name == "seed" && declared.Type is null)
            {
                ApplySeed(name, value, declared.Targets.Select(t => t.NodeId).Distinct().ToArray());
                return;
            }

            var kind = declared.Type switch
            {
                "int" => Kind.Int,
                "float" => Kind.Float,
                "string" => Kind.String,
                "bool" => Kind.Bool,
                "resolution" => Kind.Resolution,
                _ => name == "resolution" ? Kind.Resolution : Kind.Inferred,
            };
            if (kind == Kind.Resolution)
            {
                if (declared.Targets.Count != 2)
                {
                    _ignored.Add(new IgnoredParameter(name, "a resolution must be bound to two inputs, [width, height], in the sidecar"));
                    return;
                }

                ApplyResolution(name, value, [declared.Targets[0]], [declared.Targets[1]]);
                return;
            }

            ApplyTargets(name, kind, declared.Targets, value);
        }

        public void ApplyDefault(string name, JsonNode? value, bool hasSidecar)
        {
            if (name is "prompt" or "negative")
            {
                var side = name == "prompt" ? "positive" : "negative";
                ApplyTargets(name, Kind.String, ConditioningTextTargets(side), value,
                    $"no text encoder (e.g. CLIPTextEncode) with a literal text feeds a sampler's {side} input");
            }
            else if (LiteralInputDefaults.TryGetValue(name, out var literal))
            {
                ApplyTargets(name, literal.Kind, LiteralInputs(literal.Input, _ => true), value,
                    $"the workflow has no node with a literal '{literal.Input}' input");
            }
            else if (ImageSizeDefaults.TryGetValue(name, out var size))
            {
                ApplyTargets(name, size.Kind, LiteralInputs(size.Input, IsImageSource), value,
                    $"the workflow has no Empty… or TestProgressImage node with a literal '{size.Input}' input");
            }
            else if (name == "resolution")
            {
                ApplyResolution(name, value, LiteralInputs("width", IsImageSource), LiteralInputs("height", IsImageSource));
            }
            else if (name == "seed")
            {
                ApplySeed(name, value, _seedNodes);
            }
            else
            {
                _ignored.Add(new IgnoredParameter(name, hasSidecar
                    ? "no node input is bound to it: the sidecar does not name it, it is not a known parameter and not \"nodeId:input\""
                    : "no node input is bound to it: the workflow has no sidecar naming it, it is not a known parameter and not \"nodeId:input\""));
            }
        }

        public void ApplyTargets(string name, Kind kind, IReadOnlyList<NodeInputRef> targets, JsonNode? value, string? noTargetReason = null)
        {
            if (targets.Count == 0)
            {
                if (Coerce(name, kind, value, null) is not null)
                {
                    _ignored.Add(new IgnoredParameter(name, noTargetReason ?? "it names no node input"));
                }

                return;
            }

            string? firstProblem = null;
            var written = 0;
            foreach (var target in targets)
            {
                if (Locate(target) is not { } inputs)
                {
                    firstProblem ??= $"node {target.NodeId} is not in the workflow";
                    continue;
                }

                if (!inputs.ContainsKey(target.Input))
                {
                    firstProblem ??= $"node {target.NodeId} ({ApiWorkflow.ClassType(prompt[target.NodeId])}) has no input '{target.Input}'";
                    continue;
                }

                var current = inputs[target.Input];
                if (ApiWorkflow.IsLink(current))
                {
                    firstProblem ??= $"input {target} is linked to node {current![0]}; a linked input is never written over";
                    continue;
                }

                var coerced = Coerce(name, kind, value, current);
                if (coerced is null)
                {
                    return;
                }

                inputs[target.Input] = coerced;
                written++;
            }

            if (written == 0 && firstProblem is not null)
            {
                _ignored.Add(new IgnoredParameter(name, firstProblem));
            }
        }

        private void ApplyResolution(string name, JsonNode? value, IReadOnlyList<NodeInputRef> widths, IReadOnlyList<NodeInputRef> heights)
        {
            if (!TryReadResolution(value, out var width, out var height))
            {
                _errors.Add(new ParameterError(name, "value_error",
                    "Value error, a resolution is \"WIDTHxHEIGHT\" (e.g. \"1024x768\") or [width, height] with positive integers", value));
                return;
            }

            if (widths.Count == 0 || heights.Count == 0)
            {
                _ignored.Add(new IgnoredParameter(name, "the workflow has no Empty… or TestProgressImage node with literal width and height inputs"));
                return;
            }

            ApplyTargets(name, Kind.PositiveInt, widths, JsonValue.Create(width));
            ApplyTargets(name, Kind.PositiveInt, heights, JsonValue.Create(height));
        }

        private void ApplySeed(string name, JsonNode? value, IReadOnlyList<string>? nodes)
        {
            if (Coerce(name, Kind.Seed, value, null) is not { } seed)
            {
                return;
            }

            if (PromptSeeds.Targets(prompt, nodes).Count == 0)
            {
                _ignored.Add(new IgnoredParameter(name, nodes is { Count: > 0 }
                    ? $"none of the seed nodes ({string.Join(", ", nodes)}) has a literal seed or noise_seed input"
                    : "the workflow has no literal seed or noise_seed input"));
                return;
            }

            _seed = seed.GetValue<long>();
            _seedNodes = nodes;
        }

        private JsonObject? Locate(NodeInputRef target) => prompt[target.NodeId]?["inputs"] as JsonObject;

        private List<NodeInputRef> LiteralInputs(string input, Func<string?, bool> classFilter)
        {
            var targets = new List<NodeInputRef>();
            foreach (var (id, node) in prompt)
            {
                if (classFilter(ApiWorkflow.ClassType(node)) && node?["inputs"] is JsonObject inputs &&
                    inputs.TryGetPropertyValue(input, out var current) && current is JsonValue)
                {
                    targets.Add(new NodeInputRef(id, input));
                }
            }

            return targets;
        }

        /// <summary>The literal text inputs reached from every <paramref name="side"/> input (positive or negative), through
        /// pass-through nodes (ControlNetApply, FluxGuidance, ConditioningCombine…). A sampler given its prompt as a literal
        /// string (API doc 4's example) gets it there.</summary>
        private List<NodeInputRef> ConditioningTextTargets(string side)
        {
            var targets = new List<NodeInputRef>();
            var visited = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (id, node) in prompt)
            {
                if (node?["inputs"] is not JsonObject inputs || !inputs.TryGetPropertyValue(side, out var start))
                {
                    continue;
                }

                if (start is JsonValue literal && literal.GetValueKind() == JsonValueKind.String)
                {
                    targets.Add(new NodeInputRef(id, side));
                }
                else if (ApiWorkflow.TryReadLink(start, out var source, out _))
                {
                    Walk(source, side, visited, targets, depth: 0);
                }
            }

            return targets;
        }

        private void Walk(string nodeId, string side, HashSet<string> visited, List<NodeInputRef> targets, int depth)
        {
            if (depth > 16 || !visited.Add(nodeId) || prompt[nodeId]?["inputs"] is not JsonObject inputs)
            {
                return;
            }

            var texts = TextInputs.Where(name => inputs[name] is JsonValue value && value.GetValueKind() == JsonValueKind.String).ToArray();
            if (texts.Length > 0)
            {
                targets.AddRange(texts.Select(name => new NodeInputRef(nodeId, name)));
                return;
            }

            foreach (var (name, input) in inputs)
            {
                if ((name == side || name.StartsWith("conditioning", StringComparison.Ordinal)) && ApiWorkflow.TryReadLink(input, out var source, out _))
                {
                    Walk(source, side, visited, targets, depth + 1);
                }
            }
        }

        /// <summary>The value to write, or null after recording why it cannot be used. <paramref name="current"/> is the
        /// literal being replaced; an inferred kind follows it (a number stays a number, text stays text).</summary>
        private JsonNode? Coerce(string name, Kind kind, JsonNode? value, JsonNode? current)
        {
            if (value is null)
            {
                _errors.Add(new ParameterError(name, "value_error", "Value error, a parameter must not be null", null));
                return null;
            }

            if (kind == Kind.Inferred)
            {
                kind = current is JsonValue literal
                    ? literal.GetValueKind() switch
                    {
                        JsonValueKind.Number => IsIntegral(literal) ? Kind.Int : Kind.Float,
                        JsonValueKind.String => Kind.String,
                        JsonValueKind.True or JsonValueKind.False => Kind.Bool,
                        _ => Kind.Inferred,
                    }
                    : Kind.Inferred;
                if (kind == Kind.Int && value is JsonValue given && given.GetValueKind() == JsonValueKind.Number && !IsIntegral(given))
                {
                    // A workflow may hold 8 for a float input such as cfg; accept 7.5 there.
                    kind = Kind.Float;
                }
            }

            switch (kind)
            {
                case Kind.Int or Kind.PositiveInt or Kind.Seed:
                    if (!TryReadInteger(value, out var integer))
                    {
                        _errors.Add(new ParameterError(name, "int_parsing", "Input should be a valid integer, unable to parse the value as an integer", value));
                        return null;
                    }

                    var minimum = kind switch { Kind.PositiveInt => 1, Kind.Seed => 0, _ => long.MinValue };
                    if (integer < minimum)
                    {
                        _errors.Add(new ParameterError(name, "greater_than_equal", $"Input should be greater than or equal to {minimum}", value));
                        return null;
                    }

                    return JsonValue.Create(integer);
                case Kind.Float:
                    if (!TryReadNumber(value, out var number))
                    {
                        _errors.Add(new ParameterError(name, "float_parsing", "Input should be a valid number, unable to parse the value as a number", value));
                        return null;
                    }

                    return JsonValue.Create(number);
                case Kind.String:
                    if (value is not JsonValue text || text.GetValueKind() != JsonValueKind.String)
                    {
                        _errors.Add(new ParameterError(name, "string_type", "Input should be a valid string", value));
                        return null;
                    }

                    return JsonValue.Create(text.GetValue<string>());
                case Kind.Bool:
                    if (!TryReadBool(value, out var flag))
                    {
                        _errors.Add(new ParameterError(name, "bool_parsing", "Input should be a valid boolean", value));
                        return null;
                    }

                    return JsonValue.Create(flag);
                default:
                    return value.DeepClone();
            }
        }
    }

    private static bool IsImageSource(string? classType) =>
        classType is not null && (classType.StartsWith("Empty", StringComparison.Ordinal) || classType == "TestProgressImage");

    private static bool IsIntegral(JsonValue number) => long.TryParse(number.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);

    private static bool TryReadInteger(JsonNode value, out long integer)
    {
        integer = 0;
        if (value is not JsonValue scalar)
        {
            return false;
        }

        var text = scalar.GetValueKind() switch
        {
            JsonValueKind.Number => scalar.ToJsonString(),
            JsonValueKind.String => scalar.GetValue<string>().Trim(),
            _ => null,
        };
        if (text is null)
        {
            return false;
        }

        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out integer))
        {
            return true;
        }

        // Like FastAPI, 20.0 is the integer 20 but 20.5 is not an integer.
        if (!decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var exact) ||
            exact != decimal.Truncate(exact) || exact < long.MinValue || exact > long.MaxValue)
        {
            return false;
        }

        integer = (long)exact;
        return true;
    }

    private static bool TryReadNumber(JsonNode value, out double number)
    {
        number = 0;
        var text = value is JsonValue scalar
            ? scalar.GetValueKind() switch
            {
                JsonValueKind.Number => scalar.ToJsonString(),
                JsonValueKind.String => scalar.GetValue<string>().Trim(),
                _ => null,
            }
            : null;
        return text is not null && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out number) && double.IsFinite(number);
    }

    private static bool TryReadBool(JsonNode value, out bool flag)
    {
        flag = false;
        if (value is not JsonValue scalar)
        {
            return false;
        }

        switch (scalar.GetValueKind())
        {
            case JsonValueKind.True:
                flag = true;
                return true;
            case JsonValueKind.False:
                return true;
            case JsonValueKind.String:
                return bool.TryParse(scalar.GetValue<string>().Trim(), out flag);
            default:
                return false;
        }
    }

    /// <summary>"1024x768" (also "1024 x 768", "1024X768", "1024×768") or [1024, 768] or {width, height}.</summary>
    private static bool TryReadResolution(JsonNode? value, out long width, out long height)
    {
        width = height = 0;
        switch (value)
        {
            case JsonValue text when text.GetValueKind() == JsonValueKind.String:
                var match = ResolutionPattern().Match(text.GetValue<string>());
                return match.Success &&
                       long.TryParse(match.Groups[1].Value, CultureInfo.InvariantCulture, out width) &&
                       long.TryParse(match.Groups[2].Value, CultureInfo.InvariantCulture, out height) &&
                       width >= 1 && height >= 1;
            case JsonArray { Count: 2 } pair:
                return pair[0] is { } w && pair[1] is { } h && TryReadInteger(w, out width) && TryReadInteger(h, out height) && width >= 1 && height >= 1;
            case JsonObject size:
                return size["width"] is { } sw && size["height"] is { } sh && TryReadInteger(sw, out width) && TryReadInteger(sh, out height) && width >= 1 && height >= 1;
            default:
                return false;
        }
    }

    [GeneratedRegex(@"^\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*$")]
    private static partial Regex ResolutionPattern();
}
