using System.Globalization;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Control;
using DirectorsConsole.ComfyEmulator.Nodes;
using DirectorsConsole.ComfyEmulator.Realtime;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DirectorsConsole.ComfyEmulator.Api;

/// <summary>ComfyUI's read-only server routes, shaped as ComfyUI 0.3.64 answers them (server_info.jsonl).</summary>
public static class ServerInfoApi
{
    private const long BytesPerGb = 1L << 30;

    public static RouteGroupBuilder MapServerInfoApi(this RouteGroupBuilder routes)
    {
        routes.MapGet("/system_stats", GetSystemStats);
        routes.MapGet("/object_info", GetAllObjectInfo);
        routes.MapGet("/object_info/{nodeClass}", GetObjectInfo);
        routes.MapGet("/features", GetFeatures);
        routes.MapGet("/embeddings", GetEmbeddings);
        routes.MapGet("/models", GetModelFolders);
        routes.MapGet("/models/{folder}", GetModelFiles);
        return routes;
    }

    /// <summary>Reports the configured GPU (or a CPU device when none), VRAM and OS; RAM is reported as large as VRAM.</summary>
    public static ContentHttpResult GetSystemStats(EmulatorKnobs knobs, IServer server)
    {
        var settings = knobs.Current;
        var total = (long)(settings.VramGb * BytesPerGb);
        var free = total - total / 40;
        var cpu = settings.GpuName.Length == 0;
        var port = server.Features.Get<IServerAddressesFeature>()?.Addresses.Select(a => new Uri(a).Port).FirstOrDefault() ?? 0;
        JsonArray argv = cpu ? ["main.py", "--cpu", "--listen", "127.0.0.1", "--port"] : ["main.py", "--listen", "127.0.0.1", "--port"];
        argv.Add(port.ToString(CultureInfo.InvariantCulture));
        return ComfyResults.Json(new JsonObject
        {
            ["system"] = new JsonObject
            {
                ["os"] = settings.Os,
                ["ram_total"] = total,
                ["ram_free"] = free,
                ["comfyui_version"] = "0.3.64",
                ["required_frontend_version"] = "1.27.10",
                ["installed_templates_version"] = null,
                ["required_templates_version"] = "0.1.95",
                ["python_version"] = settings.Os == "nt"
                    ? "3.12.10 (tags/v3.12.10:0cc8128, Apr  8 2025, 12:21:36) [MSC v.1943 64 bit (AMD64)]"
                    : "3.11.2 (main, Apr 28 2025, 14:11:48) [GCC 12.2.0]",
                ["pytorch_version"] = cpu ? "1.13.0a0" : "2.8.0+cu128",
                ["embedded_python"] = false,
                ["argv"] = argv,
            },
            ["devices"] = new JsonArray(new JsonObject
            {
                ["name"] = cpu ? "cpu" : $"cuda:0 {settings.GpuName} : cudaMallocAsync",
                ["type"] = cpu ? "cpu" : "cuda",
                ["index"] = cpu ? null : 0,
                ["vram_total"] = total,
                ["vram_free"] = free,
                ["torch_vram_total"] = total,
                ["torch_vram_free"] = free,
            }),
        });
    }

    public static ContentHttpResult GetAllObjectInfo(NodeCatalog catalog) => ComfyResults.Json(catalog.All());

    /// <summary>An unknown class is 200 with <c>{}</c>.</summary>
    public static ContentHttpResult GetObjectInfo(string nodeClass, NodeCatalog catalog) => ComfyResults.Json(catalog.Single(nodeClass));

    public static ContentHttpResult GetFeatures() => ComfyResults.Json(FeatureFlagsMessage.ServerFeatures());

    public static ContentHttpResult GetEmbeddings() => ComfyResults.Json(new JsonArray());

    public static ContentHttpResult GetModelFolders() =>
        ComfyResults.Json(new JsonArray([.. NodeCatalog.ModelFolderNames.Select(name => (JsonNode?)name)]));

    /// <summary>The fake files of one model folder; an unknown folder is an empty 404.</summary>
    public static ContentHttpResult GetModelFiles(string folder, NodeCatalog catalog) =>
        catalog.ModelFolder(folder) is { } files
            ? ComfyResults.Json(new JsonArray([.. files.Select(name => (JsonNode?)name)]))
            : ComfyResults.Empty(StatusCodes.Status404NotFound);
}
