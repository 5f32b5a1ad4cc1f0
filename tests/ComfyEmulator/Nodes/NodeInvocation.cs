using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Control;
using DirectorsConsole.ComfyEmulator.Json;
using DirectorsConsole.ComfyEmulator.Storage;

namespace DirectorsConsole.ComfyEmulator.Nodes;

/// <summary>The services a node may use while it runs.</summary>
public sealed record NodeServices(ComfyFolders Folders, EmulatorKnobs Knobs, TimeProvider Time);

/// <summary>A progress update from a node: <c>ProgressBar.update_absolute(value, max, preview)</c>.</summary>
public delegate Task ProgressReporter(long value, long max, byte[]? previewPng);

/// <summary>
/// One call of a node's function: its inputs (literal widget values as validated JSON, linked inputs as the
/// upstream node's output object), the hidden PROMPT and EXTRA_PNGINFO values, progress reporting and
/// interruptible waiting. <see cref="CancellationToken"/> fires on interrupt, restart or shutdown.
/// </summary>
public sealed class NodeInvocation(
    string nodeId, string classType, IReadOnlyDictionary<string, object?> inputs, JsonObject prompt, JsonObject? extraPngInfo,
    NodeServices services, ProgressReporter progress, CancellationToken cancellationToken)
{
    public string NodeId { get; } = nodeId;
    public string ClassType { get; } = classType;
    public JsonObject Prompt { get; } = prompt;
    public JsonObject? ExtraPngInfo { get; } = extraPngInfo;
    public NodeServices Services { get; } = services;
    public CancellationToken CancellationToken { get; } = cancellationToken;

    public long Int(string name, long fallback) => Literal(name) is { } value ? (long)PythonValues.AsDecimal(value) : fallback;

    /// <summary>An INT that may use the whole 0..2^64-1 seed range.</summary>
    public decimal Seed(string name) => Literal(name) is { } value ? PythonValues.AsDecimal(value) : 0;

    public double Float(string name, double fallback) => Literal(name) is { } value ? PythonValues.AsDouble(value) : fallback;

    public string Text(string name, string fallback) => Literal(name) is { } value ? PythonValues.Str(value) : fallback;

    public bool Flag(string name, bool fallback) => Literal(name) is { } value ? PythonValues.Truthy(value) : fallback;

    public T Linked<T>(string name) =>
        inputs.TryGetValue(name, out var value) && value is T typed
            ? typed
            : throw new PythonException("TypeError", $"{ClassType} input '{name}' is not a {typeof(T).Name}", []);

    public Task ReportProgressAsync(long value, long max, byte[]? previewPng = null) => progress(value, max, previewPng);

    public Task SleepAsync(TimeSpan delay) =>
        delay <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(delay, Services.Time, CancellationToken);

    private JsonNode? Literal(string name) => inputs.TryGetValue(name, out var value) ? value as JsonNode : null;
}
