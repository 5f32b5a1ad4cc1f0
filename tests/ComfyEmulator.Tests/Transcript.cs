using System.Text.Json;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>One recorded ComfyUI 0.3.64 scenario (../shared/comfyui-transcripts/*.jsonl), one JSON event a line.</summary>
public sealed record Transcript(string Scenario, IReadOnlyList<JsonElement> Events)
{
    public static string? FindDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "DirectorsConsole.sln")))
            {
                var transcripts = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "comfyui-transcripts"));
                return Directory.Exists(transcripts) ? transcripts : null;
            }
        }
        return null;
    }

    /// <summary>Loads a scenario, or skips the calling test when the recordings are not on this machine.</summary>
    public static Transcript LoadOrSkip(string scenario)
    {
        var dir = FindDirectory();
        Assert.SkipWhen(dir is null, "comfyui-transcripts folder not found next to the repository");
        var events = File.ReadLines(Path.Combine(dir!, scenario + ".jsonl"))
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
