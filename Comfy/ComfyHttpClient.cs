using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace DirectorsConsole.Comfy;

/// <summary>A ComfyUI request that failed: the node could not be reached, answered an error status, or sent
/// something that is not the JSON ComfyUI sends. The message says which route and why.</summary>
public sealed class ComfyRequestException(string message, Exception? innerException = null) : Exception(message, innerException);

/// <summary>What <c>GET /system_stats</c> reports (bytes). <see cref="GpuName"/> is the first device's name
/// without ComfyUI's <c>cuda:0 </c> prefix and <c> : cudaMallocAsync</c> allocator suffix.</summary>
public sealed record ComfySystemStats(
    string? Os, string? ComfyuiVersion, long? RamTotal, long? RamFree, string? GpuName, long? VramTotal, long? VramFree);

/// <summary>The sizes of <c>GET /queue</c>'s <c>queue_running</c> and <c>queue_pending</c>.</summary>
public sealed record ComfyQueueCounts(int Running, int Pending);

/// <summary>
/// The ComfyUI routes for probing and control (<c>/system_stats</c>, <c>/queue</c>, <c>/object_info</c>,
/// <c>/interrupt</c>, <c>/free</c>) on any backend: every call names the backend's base address. The owner chooses
/// the handler (BackendService's refuses forbidden addresses). Callers bound
/// each call with their cancellation token; the client itself has no timeout.
/// </summary>
public sealed partial class ComfyHttpClient(HttpClient http)
{
    /// <summary>The IHttpClientFactory name of the underlying client.</summary>
    public const string HttpClientName = "comfy";

    [GeneratedRegex(@"^\S+:\d+\s+(?<name>.+?)(?:\s+:\s+\S+)?$")]
    private static partial Regex DeviceName();

    public async Task<ComfySystemStats> GetSystemStatsAsync(Uri baseAddress, CancellationToken cancellationToken)
    {
        using var document = await GetJsonAsync(baseAddress, "system_stats", cancellationToken);
        var root = document.RootElement;
        var system = Property(root, "system");
        JsonElement? device = Property(root, "devices") is { ValueKind: JsonValueKind.Array } devices && devices.GetArrayLength() > 0 ? devices[0] : null;
        var rawName = device is { } d ? Text(d, "name") : null;
        var gpuName = rawName is not null && DeviceName().Match(rawName) is { Success: true } match ? match.Groups["name"].Value : rawName;
        return new ComfySystemStats(
            Text(system, "os"), Text(system, "comfyui_version"), Number(system, "ram_total"), Number(system, "ram_free"),
            gpuName, device is { } v ? Number(v, "vram_total") : null, device is { } f ? Number(f, "vram_free") : null);
    }

    public async Task<ComfyQueueCounts> GetQueueAsync(Uri baseAddress, CancellationToken cancellationToken)
    {
        using var document = await GetJsonAsync(baseAddress, "queue", cancellationToken);
        return new ComfyQueueCounts(Count(document.RootElement, "queue_running"), Count(document.RootElement, "queue_pending"));
    }

    public async Task<ComfyCapabilities> GetObjectInfoAsync(Uri baseAddress, CancellationToken cancellationToken)
    {
        using var document = await GetJsonAsync(baseAddress, "object_info", cancellationToken);
        return ComfyObjectInfo.Parse(document.RootElement);
    }

    /// <summary>POST /interrupt without a prompt id: stops whatever runs on the node (used by restart only;
    /// cancelling one job interrupts by prompt id).</summary>
    public Task InterruptAsync(Uri baseAddress, CancellationToken cancellationToken) =>
        PostAsync(baseAddress, "interrupt", new Dictionary<string, object>(), cancellationToken);

    /// <summary>POST /free: unloads models and frees cached memory.</summary>
    public Task FreeAsync(Uri baseAddress, bool unloadModels, bool freeMemory, CancellationToken cancellationToken) =>
        PostAsync(baseAddress, "free", new Dictionary<string, object> { ["unload_models"] = unloadModels, ["free_memory"] = freeMemory }, cancellationToken);

    private async Task PostAsync(Uri baseAddress, string route, Dictionary<string, object> body, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.PostAsJsonAsync(new Uri(baseAddress, route), body, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new ComfyRequestException($"POST /{route} answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            }
        }
        catch (HttpRequestException ex)
        {
            throw new ComfyRequestException($"POST /{route} failed: {ex.Message}", ex);
        }
    }

    private async Task<JsonDocument> GetJsonAsync(Uri baseAddress, string route, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.GetAsync(new Uri(baseAddress, route), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new ComfyRequestException($"GET /{route} answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            }

            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw new ComfyRequestException($"GET /{route} answered {document.RootElement.ValueKind} instead of a JSON object");
            }

            return document;
        }
        catch (HttpRequestException ex)
        {
            throw new ComfyRequestException($"GET /{route} failed: {ex.Message}", ex);
        }
        catch (JsonException ex)
        {
            throw new ComfyRequestException($"GET /{route} answered invalid JSON: {ex.Message}", ex);
        }
    }

    private static JsonElement Property(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) ? value : default;

    private static string? Text(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    private static long? Number(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.Number } value && value.TryGetDouble(out var number) ? (long)number : null;

    private static int Count(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.Array } value ? value.GetArrayLength() : 0;
}

/// <summary>What <c>/object_info</c> says a node can do: its node classes and the model names of each loader.</summary>
public sealed record ComfyCapabilities(
    IReadOnlyList<string> NodeClasses,
    IReadOnlyList<string> Checkpoints,
    IReadOnlyList<string> Unets,
    IReadOnlyList<string> Loras,
    IReadOnlyList<string> Vaes);

/// <summary>Reads a backend's capabilities from <c>/object_info</c>: its node classes (the keys) and the model
/// names of the loaders SwarmUI also reads. Combo inputs come as legacy <c>[[option…], {…}]</c> or V3
/// <c>["COMBO", {"options": […]}]</c>; Windows nodes report <c>\</c> in names, stored as <c>/</c>.</summary>
public static class ComfyObjectInfo
{
    private static readonly (string NodeClass, string Input)[] CheckpointInputs = [("CheckpointLoaderSimple", "ckpt_name"), ("CheckpointLoader", "ckpt_name")];
    private static readonly (string NodeClass, string Input)[] UnetInputs = [("UNETLoader", "unet_name")];
    private static readonly (string NodeClass, string Input)[] LoraInputs = [("LoraLoader", "lora_name"), ("LoraLoaderModelOnly", "lora_name")];
    private static readonly (string NodeClass, string Input)[] VaeInputs = [("VAELoader", "vae_name")];

    public static ComfyCapabilities Parse(JsonElement objectInfo)
    {
        var classes = objectInfo.ValueKind == JsonValueKind.Object
            ? objectInfo.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray()
            : [];
        return new ComfyCapabilities(
            classes, Models(objectInfo, CheckpointInputs), Models(objectInfo, UnetInputs), Models(objectInfo, LoraInputs), Models(objectInfo, VaeInputs));
    }

    /// <summary>The options of one combo input, in either shape; empty when it is not a combo.</summary>
    public static IReadOnlyList<string> ComboOptions(JsonElement input)
    {
        if (input.ValueKind != JsonValueKind.Array || input.GetArrayLength() == 0)
        {
            return [];
        }

        var first = input[0];
        var options = first.ValueKind == JsonValueKind.Array ? first
            : first.ValueKind == JsonValueKind.String && first.GetString() == "COMBO" && input.GetArrayLength() > 1
              && input[1].ValueKind == JsonValueKind.Object && input[1].TryGetProperty("options", out var v3) ? v3
            : default;
        return options.ValueKind == JsonValueKind.Array
            ? options.EnumerateArray().Where(o => o.ValueKind == JsonValueKind.String).Select(o => o.GetString()!).ToArray()
            : [];
    }

    private static IReadOnlyList<string> Models(JsonElement objectInfo, (string NodeClass, string Input)[] inputs)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (nodeClass, inputName) in inputs)
        {
            if (objectInfo.ValueKind != JsonValueKind.Object
                || !objectInfo.TryGetProperty(nodeClass, out var node) || node.ValueKind != JsonValueKind.Object
                || !node.TryGetProperty("input", out var input) || input.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            foreach (var group in new[] { "required", "optional" })
            {
                if (input.TryGetProperty(group, out var fields) && fields.ValueKind == JsonValueKind.Object && fields.TryGetProperty(inputName, out var field))
                {
                    names.UnionWith(ComboOptions(field).Select(name => name.Replace('\\', '/')));
                }
            }
        }

        return names.ToArray();
    }
}
