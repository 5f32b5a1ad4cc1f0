using System.Text.Json;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>Compares two JSON documents by shape: the same keys and value kinds, recursively; values are ignored.</summary>
public static class JsonShape
{
    public static IReadOnlyList<string> Differences(JsonElement expected, JsonElement actual)
    {
        var differences = new List<string>();
        Compare(expected, actual, "$", differences);
        return differences;
    }

    private static void Compare(JsonElement expected, JsonElement actual, string path, List<string> differences)
    {
        if (Kind(expected) != Kind(actual))
        {
            differences.Add($"{path}: expected {expected.ValueKind}, got {actual.ValueKind}");
            return;
        }
        switch (expected.ValueKind)
        {
            case JsonValueKind.Object:
                var expectedKeys = expected.EnumerateObject().Select(p => p.Name).ToHashSet();
                var actualKeys = actual.EnumerateObject().Select(p => p.Name).ToHashSet();
                differences.AddRange(expectedKeys.Except(actualKeys).Select(k => $"{path}.{k}: missing"));
                differences.AddRange(actualKeys.Except(expectedKeys).Select(k => $"{path}.{k}: unexpected"));
                foreach (var key in expectedKeys.Intersect(actualKeys))
                {
                    Compare(expected.GetProperty(key), actual.GetProperty(key), $"{path}.{key}", differences);
                }
                break;
            case JsonValueKind.Array:
                // Tuples (ComfyUI input specs) compare element by element; lists whose length varies
                // with state compare by their first element.
                var count = expected.GetArrayLength() == actual.GetArrayLength()
                    ? expected.GetArrayLength()
                    : Math.Min(1, Math.Min(expected.GetArrayLength(), actual.GetArrayLength()));
                for (var i = 0; i < count; i++)
                {
                    Compare(expected[i], actual[i], $"{path}[{i}]", differences);
                }
                break;
        }
    }

    private static JsonValueKind Kind(JsonElement e) => e.ValueKind == JsonValueKind.False ? JsonValueKind.True : e.ValueKind;
}
