using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit;

namespace DirectorsConsole.Testing;

/// <summary>Assertions on the JSON types and formats the original's clients read.</summary>
public static partial class WireAssert
{
    /// <summary>The JSON value kind of <paramref name="node"/>[<paramref name="field"/>], which must be present.</summary>
    public static JsonNode Kind(JsonNode? node, string field, params JsonValueKind[] kinds)
    {
        Assert.NotNull(node);
        Assert.True(node.AsObject().ContainsKey(field), $"'{field}' is missing from {node.ToJsonString()}");
        var value = node[field];
        var kind = value?.GetValueKind() ?? JsonValueKind.Null;
        Assert.True(kinds.Contains(kind), $"'{field}' is {kind}, expected {string.Join(" or ", kinds)}: {node.ToJsonString()}");
        return value!;
    }

    /// <summary>A string field holding a time that Python 3.8's <c>datetime.fromisoformat</c> and JavaScript's
    /// <c>Date</c> both read: no <c>Z</c>, a numeric offset, a fraction of 0, 3 or 6 digits.</summary>
    public static DateTimeOffset IsoTimestamp(JsonNode? node, string field)
    {
        var text = (string)Kind(node, field, JsonValueKind.String)!;
        Assert.Matches(PythonIsoFormat(), text);
        return DateTimeOffset.Parse(text, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?[+-]\d{2}:\d{2}$")]
    private static partial Regex PythonIsoFormat();
}
