using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace DirectorsConsole.ComfyEmulator.Json;

/// <summary>A Python exception as ComfyUI reports it: the class name, <c>str(ex)</c> and <c>traceback.format_tb</c>.</summary>
public sealed class PythonException(string type, string message, IReadOnlyList<string> traceback) : Exception(message)
{
    public string PythonType { get; } = type;
    public IReadOnlyList<string> PythonTraceback { get; } = traceback;
}

/// <summary>
/// The Python built-ins ComfyUI applies to prompt values during validation (<c>int()</c>, <c>float()</c>,
/// <c>str()</c>, <c>bool()</c>, <c>==</c>, <c>&lt;</c>) so conversions, comparisons and error texts come out the same.
/// Converted values are CLR-typed nodes: <see cref="long"/> (or <see cref="ulong"/>) for int, <see cref="double"/> for float.
/// </summary>
public static partial class PythonValues
{
    public static JsonNode ToInt(JsonNode? value, IReadOnlyList<string> traceback)
    {
        switch (Kind(value))
        {
            case JsonValueKind.True: return JsonValue.Create(1L);
            case JsonValueKind.False: return JsonValue.Create(0L);
            case JsonValueKind.Number:
                if (TryInteger(value!, out var integer)) return integer;
                return IntegerNode(Math.Truncate(AsDouble(value!)));
            case JsonValueKind.String:
                var text = value!.GetValue<string>();
                var trimmed = text.Trim();
                if (PythonIntLiteral().IsMatch(trimmed)
                    && decimal.TryParse(trimmed.Replace("_", "", StringComparison.Ordinal), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed))
                {
                    return IntegerNode(parsed);
                }
                throw new PythonException("ValueError", $"invalid literal for int() with base 10: {Repr(value)}", traceback);
            default:
                throw new PythonException("TypeError", $"int() argument must be a string, a bytes-like object or a real number, not '{TypeName(value)}'", traceback);
        }
    }

    public static JsonNode ToFloat(JsonNode? value, IReadOnlyList<string> traceback)
    {
        switch (Kind(value))
        {
            case JsonValueKind.True: return JsonValue.Create(1.0);
            case JsonValueKind.False: return JsonValue.Create(0.0);
            case JsonValueKind.Number: return JsonValue.Create(AsDouble(value!));
            case JsonValueKind.String:
                var text = value!.GetValue<string>().Trim().Replace("_", "", StringComparison.Ordinal);
                var special = text.ToLowerInvariant().TrimStart('+');
                if (special is "inf" or "infinity") return JsonValue.Create(double.PositiveInfinity);
                if (special is "-inf" or "-infinity") return JsonValue.Create(double.NegativeInfinity);
                if (special is "nan" or "-nan") return JsonValue.Create(double.NaN);
                if (text.Length > 0 && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed)) return JsonValue.Create(parsed);
                throw new PythonException("ValueError", $"could not convert string to float: {Repr(value)}", traceback);
            default:
                throw new PythonException("TypeError", $"float() argument must be a string or a real number, not '{TypeName(value)}'", traceback);
        }
    }

    public static JsonNode ToStr(JsonNode? value) => JsonValue.Create(Str(value));

    public static JsonNode ToBool(JsonNode? value) => JsonValue.Create(Truthy(value));

    public static bool Truthy(JsonNode? value) => Kind(value) switch
    {
        JsonValueKind.True => true,
        JsonValueKind.Number => AsDouble(value!) != 0,
        JsonValueKind.String => value!.GetValue<string>().Length > 0,
        JsonValueKind.Object => value!.AsObject().Count > 0,
        JsonValueKind.Array => value!.AsArray().Count > 0,
        _ => false,
    };

    /// <summary>Python's <c>str(x)</c>.</summary>
    public static string Str(JsonNode? value) => Kind(value) == JsonValueKind.String ? value!.GetValue<string>() : Repr(value);

    /// <summary>Python's <c>repr(x)</c> of the value a JSON document parses to.</summary>
    public static string Repr(JsonNode? value)
    {
        switch (Kind(value))
        {
            case JsonValueKind.Null: return "None";
            case JsonValueKind.True: return "True";
            case JsonValueKind.False: return "False";
            case JsonValueKind.Number: return PythonJson.Serialize(value);
            case JsonValueKind.String: return ReprString(value!.GetValue<string>());
            case JsonValueKind.Array: return "[" + string.Join(", ", value!.AsArray().Select(Repr)) + "]";
            default: return "{" + string.Join(", ", value!.AsObject().Select(p => ReprString(p.Key) + ": " + Repr(p.Value))) + "}";
        }
    }

    public static string ReprString(string text)
    {
        var quote = text.Contains('\'') && !text.Contains('"') ? '"' : '\'';
        var builder = new StringBuilder().Append(quote);
        foreach (var c in text)
        {
            if (c == quote || c == '\\') builder.Append('\\').Append(c);
            else if (c == '\n') builder.Append("\\n");
            else if (c == '\r') builder.Append("\\r");
            else if (c == '\t') builder.Append("\\t");
            else if (c < ' ' || c == '\x7f') builder.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
            else builder.Append(c);
        }
        return builder.Append(quote).ToString();
    }

    /// <summary>Python's <c>==</c> between two JSON values (True == 1, 1 == 1.0).</summary>
    public static bool PyEquals(JsonNode? a, JsonNode? b)
    {
        if (TryNumber(a, out var x) && TryNumber(b, out var y)) return x == y;
        return Kind(a) == Kind(b) && PythonJson.Serialize(a) == PythonJson.Serialize(b);
    }

    /// <summary>Python's <c>a &lt; b</c> for numbers; null when Python would not compare them this way.</summary>
    public static int? Compare(JsonNode? a, JsonNode? b) =>
        TryNumber(a, out var x) && TryNumber(b, out var y) ? x.CompareTo(y) : null;

    public static string TypeName(JsonNode? value) => Kind(value) switch
    {
        JsonValueKind.Null => "NoneType",
        JsonValueKind.True or JsonValueKind.False => "bool",
        JsonValueKind.Number => TryInteger(value!, out _) ? "int" : "float",
        JsonValueKind.String => "str",
        JsonValueKind.Array => "list",
        _ => "dict",
    };

    /// <summary>The number as a double, whichever CLR type or JSON text holds it.</summary>
    public static double AsDouble(JsonNode value)
    {
        var jsonValue = value.AsValue();
        if (jsonValue.TryGetValue<JsonElement>(out var element)) return element.GetDouble();
        if (jsonValue.TryGetValue<double>(out var real)) return real;
        if (jsonValue.TryGetValue<long>(out var int64)) return int64;
        if (jsonValue.TryGetValue<int>(out var int32)) return int32;
        if (jsonValue.TryGetValue<ulong>(out var uint64)) return uint64;
        if (jsonValue.TryGetValue<float>(out var single)) return single;
        if (jsonValue.TryGetValue<bool>(out var flag)) return flag ? 1 : 0;
        return (double)jsonValue.GetValue<decimal>();
    }

    /// <summary>The integer value as a decimal (exact for the whole ulong range ComfyUI seeds use).</summary>
    public static decimal AsDecimal(JsonNode value)
    {
        var jsonValue = value.AsValue();
        if (jsonValue.TryGetValue<JsonElement>(out var element) && element.TryGetDecimal(out var exact)) return exact;
        if (jsonValue.TryGetValue<long>(out var int64)) return int64;
        if (jsonValue.TryGetValue<ulong>(out var uint64)) return uint64;
        if (jsonValue.TryGetValue<int>(out var int32)) return int32;
        return (decimal)AsDouble(value);
    }

    public static JsonValueKind Kind(JsonNode? value) => value?.GetValueKind() ?? JsonValueKind.Null;

    private static bool TryNumber(JsonNode? value, out double number)
    {
        number = Kind(value) switch
        {
            JsonValueKind.True => 1,
            JsonValueKind.False => 0,
            JsonValueKind.Number => AsDouble(value!),
            _ => double.NaN,
        };
        return !double.IsNaN(number);
    }

    /// <summary>True when the number is a Python int: a CLR integer, or JSON number text without fraction or exponent.</summary>
    private static bool TryInteger(JsonNode value, out JsonNode integer)
    {
        integer = value;
        var jsonValue = value.AsValue();
        if (jsonValue.TryGetValue<JsonElement>(out var element))
        {
            var raw = element.GetRawText();
            if (raw.AsSpan().IndexOfAny('.', 'e', 'E') >= 0) return false;
            integer = decimal.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exact)
                ? IntegerNode(exact)
                : JsonValue.Create(element.GetDouble());
            return true;
        }
        return jsonValue.TryGetValue<long>(out _) || jsonValue.TryGetValue<int>(out _) || jsonValue.TryGetValue<ulong>(out _);
    }

    private static JsonNode IntegerNode(double truncated) =>
        truncated is >= long.MinValue and <= long.MaxValue ? JsonValue.Create((long)truncated) : JsonValue.Create(truncated);

    private static JsonNode IntegerNode(decimal integer) =>
        integer >= long.MinValue && integer <= long.MaxValue ? JsonValue.Create((long)integer)
        : integer >= 0 && integer <= ulong.MaxValue ? JsonValue.Create((ulong)integer)
        : JsonValue.Create((double)integer);

    [GeneratedRegex(@"^[+-]?\d+(_\d+)*$")]
    private static partial Regex PythonIntLiteral();
}
