using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.ComfyEmulator.Json;

/// <summary>
/// Writes JSON byte for byte as Python's <c>json.dumps</c> does with its default arguments, which is how
/// ComfyUI (aiohttp's <c>json_response</c>, <c>send_json</c> and the PNG tEXt chunks) writes it:
/// <c>", "</c> and <c>": "</c> separators, non-ASCII escaped as <c>\uXXXX</c>, and floats that stay floats
/// (<c>0.0</c>, not <c>0</c>). Values parsed from a request keep their own number text; CLR doubles are floats,
/// CLR integers are ints.
/// </summary>
public static class PythonJson
{
    public static string Serialize(JsonNode? node)
    {
        var builder = new StringBuilder();
        Write(builder, node);
        return builder.ToString();
    }

    private static void Write(StringBuilder builder, JsonNode? node)
    {
        switch (node)
        {
            case null:
                builder.Append("null");
                break;
            case JsonObject obj:
                builder.Append('{');
                var firstProperty = true;
                foreach (var (key, value) in obj)
                {
                    if (!firstProperty) builder.Append(", ");
                    firstProperty = false;
                    WriteString(builder, key);
                    builder.Append(": ");
                    Write(builder, value);
                }
                builder.Append('}');
                break;
            case JsonArray array:
                builder.Append('[');
                for (var i = 0; i < array.Count; i++)
                {
                    if (i > 0) builder.Append(", ");
                    Write(builder, array[i]);
                }
                builder.Append(']');
                break;
            case JsonValue value:
                WriteValue(builder, value);
                break;
        }
    }

    private static void WriteValue(StringBuilder builder, JsonValue value)
    {
        if (value.TryGetValue<JsonElement>(out var element))
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String: WriteString(builder, element.GetString()!); return;
                case JsonValueKind.Number: builder.Append(NumberText(element.GetRawText())); return;
                case JsonValueKind.True: builder.Append("true"); return;
                case JsonValueKind.False: builder.Append("false"); return;
                default: builder.Append("null"); return;
            }
        }
        if (value.TryGetValue<string>(out var text)) WriteString(builder, text);
        else if (value.TryGetValue<bool>(out var flag)) builder.Append(flag ? "true" : "false");
        else if (value.TryGetValue<double>(out var real)) builder.Append(PythonFloat.Repr(real));
        else if (value.TryGetValue<float>(out var single)) builder.Append(PythonFloat.Repr(single));
        else if (value.TryGetValue<long>(out var int64)) builder.Append(int64.ToString(CultureInfo.InvariantCulture));
        else if (value.TryGetValue<int>(out var int32)) builder.Append(int32.ToString(CultureInfo.InvariantCulture));
        else if (value.TryGetValue<ulong>(out var uint64)) builder.Append(uint64.ToString(CultureInfo.InvariantCulture));
        else if (value.TryGetValue<decimal>(out var money)) builder.Append(PythonFloat.Repr((double)money));
        else Write(builder, JsonNode.Parse(value.ToJsonString()));
    }

    /// <summary>Python parses a number with a fraction or exponent as a float and prints its repr.</summary>
    private static string NumberText(string raw) =>
        raw.AsSpan().IndexOfAny('.', 'e', 'E') < 0
            ? raw
            : PythonFloat.Repr(double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture));

    private static void WriteString(StringBuilder builder, string text)
    {
        builder.Append('"');
        foreach (var c in text)
        {
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case '\b': builder.Append("\\b"); break;
                case '\f': builder.Append("\\f"); break;
                default:
                    if (c < ' ' || c > '~') builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else builder.Append(c);
                    break;
            }
        }
        builder.Append('"');
    }
}

/// <summary>Python's <c>repr(float)</c>: the shortest round-trip digits, fixed notation from 1e-4 up to 1e16.</summary>
public static class PythonFloat
{
    public static string Repr(double value)
    {
        if (double.IsNaN(value)) return "NaN";
        if (double.IsPositiveInfinity(value)) return "Infinity";
        if (double.IsNegativeInfinity(value)) return "-Infinity";
        if (value == 0) return double.IsNegative(value) ? "-0.0" : "0.0";

        var roundTrip = value.ToString("R", CultureInfo.InvariantCulture);
        var negative = roundTrip[0] == '-';
        if (negative) roundTrip = roundTrip[1..];
        var exponent = 0;
        var mantissa = roundTrip;
        var e = roundTrip.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            mantissa = roundTrip[..e];
            exponent = int.Parse(roundTrip[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }
        var dot = mantissa.IndexOf('.');
        var digits = mantissa.Replace(".", "", StringComparison.Ordinal);
        var pointPosition = (dot < 0 ? mantissa.Length : dot) + exponent;
        var leadingZeros = 0;
        while (leadingZeros < digits.Length - 1 && digits[leadingZeros] == '0') leadingZeros++;
        pointPosition -= leadingZeros;
        digits = digits[leadingZeros..].TrimEnd('0');
        if (digits.Length == 0) digits = "0";

        var scientificExponent = pointPosition - 1;
        string text;
        if (scientificExponent < -4 || scientificExponent >= 16)
        {
            text = digits[..1] + (digits.Length > 1 ? "." + digits[1..] : "") + "e" + (scientificExponent < 0 ? "-" : "+")
                + Math.Abs(scientificExponent).ToString("00", CultureInfo.InvariantCulture);
        }
        else if (pointPosition <= 0) text = "0." + new string('0', -pointPosition) + digits;
        else if (pointPosition >= digits.Length) text = digits + new string('0', pointPosition - digits.Length) + ".0";
        else text = digits[..pointPosition] + "." + digits[pointPosition..];
        return negative ? "-" + text : text;
    }
}
