using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Json;
using DirectorsConsole.ComfyEmulator.Nodes;

namespace DirectorsConsole.ComfyEmulator.Validation;

/// <summary>
/// The result of <c>validate_prompt</c>: when <paramref name="Valid"/>, the outputs that will run (others are
/// reported in <paramref name="NodeErrors"/> and dropped); otherwise the top-level <paramref name="Error"/>.
/// </summary>
public sealed record ValidationOutcome(bool Valid, JsonObject? Error, IReadOnlyList<string> GoodOutputs, JsonObject NodeErrors);

/// <summary>
/// ComfyUI 0.3.64's <c>execution.validate_prompt</c> and <c>validate_inputs</c>, step for step: the same checks in
/// the same order, the same error types, messages and extra_info, and the same in-place conversion of widget
/// values (<c>int()</c>, <c>float()</c>, <c>str()</c>, <c>bool()</c>) that later shows in the history and PNG metadata.
/// </summary>
public sealed class PromptValidator(NodeCatalog catalog)
{
    private const string ValidatePromptFrame =
        "  File \"<comfyui>/execution.py\", line 1010, in validate_prompt\n    m = await validate_inputs(prompt_id, prompt, o, validated)\n        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n";
    private const string InnerValidationFrame =
        "  File \"<comfyui>/execution.py\", line 812, in validate_inputs\n    r = await validate_inputs(prompt_id, prompt, o_id, validated)\n        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n";
    private const string LinkedNodeFrame =
        "  File \"<comfyui>/execution.py\", line 788, in validate_inputs\n    o_class_type = prompt[o_id]['class_type']\n                   ~~~~~~^^^^^^\n";
    private const string ReturnTypeFrame =
        "  File \"<comfyui>/execution.py\", line 790, in validate_inputs\n    received_type = r[val[1]]\n                    ~^^^^^^^^\n";
    private const string InputsFrame =
        "  File \"<comfyui>/execution.py\", line 746, in validate_inputs\n    inputs = prompt[unique_id]['inputs']\n             ~~~~~~~~~~~~~~~~~^^^^^^^^^^\n";
    private const string ConversionFrame =
        "  File \"<comfyui>/execution.py\", line 842, in validate_inputs\n    val = int(val)\n          ^^^^^^^^\n";

    private sealed record NodeValidation(bool Valid, JsonArray Errors);

    public ValidationOutcome Validate(JsonObject prompt, JsonNode? partialExecutionTargets)
    {
        var outputs = new List<string>();
        foreach (var (id, node) in prompt)
        {
            if (node is not JsonObject definition || !definition.ContainsKey("class_type"))
            {
                return Invalid(Error("invalid_prompt", "Cannot execute because a node is missing the class_type property.", $"Node ID '#{id}'"));
            }
            var classType = ClassTypeOf(definition);
            if (classType is null || !catalog.Contains(classType))
            {
                return Invalid(Error("invalid_prompt", $"Cannot execute because node {PythonValues.Str(definition["class_type"])} does not exist.", $"Node ID '#{id}'"));
            }
            if (catalog.IsOutputNode(classType) && (partialExecutionTargets is not JsonArray targets || targets.Any(t => PythonValues.PyEquals(t, id))))
            {
                outputs.Add(id);
            }
        }
        if (outputs.Count == 0) return Invalid(Error("prompt_no_outputs", "Prompt has no outputs", ""));

        var goodOutputs = new List<string>();
        var failedOutputs = new List<(string Output, JsonArray Reasons)>();
        var nodeErrors = new JsonObject();
        var validated = new OrderedDictionary<string, NodeValidation>();
        foreach (var output in outputs)
        {
            NodeValidation result;
            try
            {
                result = ValidateInputs(prompt, output, validated, []);
            }
            catch (PythonException ex)
            {
                result = new NodeValidation(false, [Error("exception_during_validation", "Exception when validating node", ex.Message,
                    new JsonObject { ["exception_type"] = ex.PythonType, ["traceback"] = Strings([ValidatePromptFrame, .. ex.PythonTraceback]) })]);
                validated[output] = result;
            }

            if (result.Valid)
            {
                goodOutputs.Add(output);
                continue;
            }
            failedOutputs.Add((output, result.Errors));
            // ComfyUI reports every invalid node seen so far against this output, which is also why an error found
            // while validating an earlier output is listed with later outputs too.
            foreach (var (nodeId, validation) in validated)
            {
                if (validation.Valid || validation.Errors.Count == 0) continue;
                if (nodeErrors[nodeId] is not JsonObject entry)
                {
                    entry = new JsonObject { ["errors"] = validation.Errors.DeepClone(), ["dependent_outputs"] = new JsonArray(), ["class_type"] = prompt[nodeId]!["class_type"]!.DeepClone() };
                    nodeErrors[nodeId] = entry;
                }
                entry["dependent_outputs"]!.AsArray().Add(output);
            }
        }

        if (goodOutputs.Count == 0)
        {
            var details = string.Join("\n", failedOutputs.SelectMany(f => f.Reasons).Select(e => $"{e!["message"]}: {e["details"]}"));
            return new ValidationOutcome(false, Error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details), [], nodeErrors);
        }
        return new ValidationOutcome(true, null, goodOutputs, nodeErrors);
    }

    private NodeValidation ValidateInputs(JsonObject prompt, string nodeId, OrderedDictionary<string, NodeValidation> validated, HashSet<string> inProgress)
    {
        if (validated.TryGetValue(nodeId, out var known)) return known;
        // Python recurses until the stack runs out on a cycle; the error it ends with is the same.
        if (!inProgress.Add(nodeId))
        {
            throw new PythonException("RecursionError", "maximum recursion depth exceeded", [InnerValidationFrame]);
        }
        try
        {
            var result = ValidateNode(prompt, nodeId, validated, inProgress);
            validated[nodeId] = result;
            return result;
        }
        finally
        {
            inProgress.Remove(nodeId);
        }
    }

    private NodeValidation ValidateNode(JsonObject prompt, string nodeId, OrderedDictionary<string, NodeValidation> validated, HashSet<string> inProgress)
    {
        var node = prompt[nodeId]!.AsObject();
        var inputs = node["inputs"] as JsonObject ?? throw new PythonException("KeyError", "'inputs'", [InputsFrame]);
        var definition = catalog.Definition(ClassTypeOf(node)!)!;
        var errors = new JsonArray();
        var valid = true;

        foreach (var (inputName, spec, required) in DeclaredInputs(definition))
        {
            var inputType = spec[0];
            var extraInfo = spec.Count > 1 && spec[1] is JsonObject options ? options : [];
            if (!inputs.ContainsKey(inputName))
            {
                if (required)
                {
                    errors.Add(Error("required_input_missing", "Required input is missing", inputName, new JsonObject { ["input_name"] = inputName }));
                }
                continue;
            }

            var value = inputs[inputName];
            var inputConfig = new JsonArray(inputType?.DeepClone(), extraInfo.DeepClone());
            if (value is JsonArray link)
            {
                if (link.Count != 2)
                {
                    errors.Add(Error("bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]", inputName,
                        new JsonObject { ["input_name"] = inputName, ["input_config"] = inputConfig, ["received_value"] = link.DeepClone() }));
                    continue;
                }
                var linkedId = PythonValues.Kind(link[0]) == JsonValueKind.String ? link[0]!.GetValue<string>() : null;
                if (linkedId is null || prompt[linkedId] is not JsonObject linkedNode)
                {
                    throw new PythonException("KeyError", PythonValues.Repr(link[0]), [LinkedNodeFrame]);
                }
                var receivedType = ReturnType(catalog.Definition(ClassTypeOf(linkedNode)!)!, link[1]);
                if (!ValidateNodeInput(receivedType, inputType))
                {
                    errors.Add(Error("return_type_mismatch", "Return type mismatch between linked nodes",
                        $"{inputName}, received_type({PythonValues.Str(receivedType)}) mismatch input_type({PythonValues.Str(inputType)})",
                        new JsonObject
                        {
                            ["input_name"] = inputName, ["input_config"] = inputConfig,
                            ["received_type"] = receivedType?.DeepClone(), ["linked_node"] = link.DeepClone(),
                        }));
                    continue;
                }
                try
                {
                    if (!ValidateInputs(prompt, linkedId, validated, inProgress).Valid) valid = false;
                }
                catch (PythonException ex)
                {
                    valid = false;
                    validated[linkedId] = new NodeValidation(false, [Error("exception_during_inner_validation", "Exception when validating inner node", ex.Message,
                        new JsonObject
                        {
                            ["input_name"] = inputName, ["input_config"] = inputConfig, ["exception_message"] = ex.Message,
                            ["exception_type"] = ex.PythonType, ["traceback"] = Strings([InnerValidationFrame, .. ex.PythonTraceback]),
                            ["linked_node"] = link.DeepClone(),
                        })]);
                }
                continue;
            }

            // Widget values wrapped as {"__value__": v} are unwrapped; a bare list would be read as a link.
            if (value is JsonObject wrapped && wrapped.ContainsKey("__value__"))
            {
                value = wrapped["__value__"]?.DeepClone();
                inputs[inputName] = value;
            }

            var typeName = PythonValues.Kind(inputType) == JsonValueKind.String ? inputType!.GetValue<string>() : null;
            try
            {
                var converted = typeName switch
                {
                    "INT" => PythonValues.ToInt(value, [ConversionFrame]),
                    "FLOAT" => PythonValues.ToFloat(value, [ConversionFrame]),
                    "STRING" => PythonValues.ToStr(value),
                    "BOOLEAN" => PythonValues.ToBool(value),
                    _ => null,
                };
                if (converted is not null)
                {
                    value = converted;
                    inputs[inputName] = converted;
                }
            }
            catch (PythonException ex)
            {
                errors.Add(Error("invalid_input_type", $"Failed to convert an input value to a {typeName} value",
                    $"{inputName}, {PythonValues.Str(value)}, {ex.Message}",
                    new JsonObject
                    {
                        ["input_name"] = inputName, ["input_config"] = inputConfig,
                        ["received_value"] = value?.DeepClone(), ["exception_message"] = ex.Message,
                    }));
                continue;
            }

            if (extraInfo["min"] is { } min && PythonValues.Compare(value, min) < 0)
            {
                errors.Add(Error("value_smaller_than_min", $"Value {PythonValues.Str(value)} smaller than min of {PythonValues.Str(min)}", inputName,
                    new JsonObject { ["input_name"] = inputName, ["input_config"] = inputConfig, ["received_value"] = value?.DeepClone() }));
                continue;
            }
            if (extraInfo["max"] is { } max && PythonValues.Compare(value, max) > 0)
            {
                errors.Add(Error("value_bigger_than_max", $"Value {PythonValues.Str(value)} bigger than max of {PythonValues.Str(max)}", inputName,
                    new JsonObject { ["input_name"] = inputName, ["input_config"] = inputConfig, ["received_value"] = value?.DeepClone() }));
                continue;
            }

            var comboOptions = inputType is JsonArray legacyCombo ? legacyCombo : typeName == "COMBO" ? extraInfo["options"] as JsonArray ?? [] : null;
            if (comboOptions is not null && !comboOptions.Any(option => PythonValues.PyEquals(option, value)))
            {
                // ComfyUI does not send back gigantic lists, such as thousands of scanned model paths.
                var large = comboOptions.Count > 20;
                var listInfo = large ? $"(list of length {comboOptions.Count})" : PythonValues.Repr(comboOptions);
                errors.Add(Error("value_not_in_list", "Value not in list", $"{inputName}: '{PythonValues.Str(value)}' not in {listInfo}",
                    new JsonObject { ["input_name"] = inputName, ["input_config"] = large ? null : inputConfig, ["received_value"] = value?.DeepClone() }));
            }
        }

        return new NodeValidation(errors.Count == 0 && valid, errors);
    }

    /// <summary><c>validate_node_input</c>: equal types, a <c>*</c> wildcard, or overlapping comma-separated unions.</summary>
    private static bool ValidateNodeInput(JsonNode? receivedType, JsonNode? inputType)
    {
        if (PythonValues.PyEquals(receivedType, inputType)) return true;
        if (PythonValues.Kind(receivedType) != JsonValueKind.String || PythonValues.Kind(inputType) != JsonValueKind.String) return false;
        var received = receivedType!.GetValue<string>().Split(',').Select(t => t.Trim()).ToHashSet();
        var accepted = inputType!.GetValue<string>().Split(',').Select(t => t.Trim()).ToHashSet();
        return received.Contains("*") || accepted.Contains("*") || received.Overlaps(accepted);
    }

    /// <summary><c>RETURN_TYPES[slot]</c>, with Python's errors for a bad slot.</summary>
    private static JsonNode? ReturnType(JsonObject definition, JsonNode? slot)
    {
        var returnTypes = definition["output"]!.AsArray();
        if (PythonValues.Kind(slot) != JsonValueKind.Number || PythonValues.TypeName(slot) != "int")
        {
            throw new PythonException("TypeError", $"tuple indices must be integers or slices, not {PythonValues.TypeName(slot)}", [ReturnTypeFrame]);
        }
        var index = (long)PythonValues.AsDecimal(slot!);
        if (index < 0) index += returnTypes.Count;
        if (index < 0 || index >= returnTypes.Count) throw new PythonException("IndexError", "tuple index out of range", [ReturnTypeFrame]);
        return returnTypes[(int)index];
    }

    private static IEnumerable<(string Name, JsonArray Spec, bool Required)> DeclaredInputs(JsonObject definition)
    {
        foreach (var (category, required) in new[] { ("required", true), ("optional", false) })
        {
            if (definition["input"]?[category] is not JsonObject inputs) continue;
            foreach (var (name, spec) in inputs) yield return (name, spec!.AsArray(), required);
        }
    }

    private static string? ClassTypeOf(JsonObject node) =>
        PythonValues.Kind(node["class_type"]) == JsonValueKind.String ? node["class_type"]!.GetValue<string>() : null;

    private static ValidationOutcome Invalid(JsonObject error) => new(false, error, [], []);

    public static JsonObject Error(string type, string message, string details, JsonObject? extraInfo = null) => new()
    {
        ["type"] = type, ["message"] = message, ["details"] = details, ["extra_info"] = extraInfo ?? [],
    };

    private static JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode?)v)]);
}
