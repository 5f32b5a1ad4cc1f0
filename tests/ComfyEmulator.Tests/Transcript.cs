using System.Text.Json;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>
/// One recorded ComfyUI 0.3.64 scenario, one JSON event a line. The recordings are kept
/// in this project's Transcripts folder, copied next to the tests, so they replay from any clone.
/// </summary>
public sealed record Transcript(string Scenario, IReadOnlyList<JsonElement> Events)
{
    public static string RecordingsFolder { get; } = Path.Combine(AppContext.BaseDirectory, "Transcripts");

    public static Transcript Load(string scenario)
    {
        var events = File.ReadLines(Path.Combine(RecordingsFolder, scenario + ".jsonl"))
            .Where(line => line.Length > 0)
            .Select(line => JsonDocument.Parse(line).RootElement.Clone())
            .ToList();
        return new Transcript(scenario, events);
    }

    /// <summary>Each http_request with the http_response that followed it.</summary>
    public IEnumerable<(JsonElement Request, JsonElement Response)> HttpExchanges()
    {
        JsonElement? pending = null;
        foreach (var e in Events)
        {
            var kind = e.GetProperty("kind").GetString();
            if (kind == "http_request") pending = e;
            else if (kind == "http_response" && pending is { } request)
            {
                yield return (request, e);
                pending = null;
            }
        }
    }

    public static string RequestUri(JsonElement request)
    {
        var path = request.GetProperty("path").GetString()!;
        if (!request.TryGetProperty("query", out var query)) return path;
        var pairs = query.EnumerateObject().Select(p => $"{Uri.EscapeDataString(p.Name)}={Uri.EscapeDataString(p.Value.ToString())}");
        return path + "?" + string.Join("&", pairs);
    }
}
