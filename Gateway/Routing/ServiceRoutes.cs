namespace DirectorsConsole.Gateway.Routing;

/// <summary>
/// One path the gateway forwards to a service: <see cref="Path"/> itself and, for a subtree, every path
/// below it.
/// </summary>
public sealed record ServiceRoute(string Service, string Path, bool Subtree)
{
    /// <summary>The route template. A catch-all parameter is optional, so it also matches the bare path.</summary>
    public string Template => Subtree ? $"{Path}/{{**rest}}" : Path;

    public bool Matches(string path) =>
        path.Equals(Path, StringComparison.OrdinalIgnoreCase)
        || (Subtree && path.StartsWith(Path + "/", StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// Which service owns which path (docs/architecture.md, docs/api-history.md). Every public path of the suite is here;
/// the gateway answers <see cref="GatewayPaths"/> itself and 404s any other <c>/api</c> path.
/// </summary>
public static class ServiceRoutes
{
    public const string JobService = "job-service";
    public const string BackendService = "backend-service";
    public const string GalleryService = "gallery-service";
    public const string PathService = "path-service";

    public static readonly IReadOnlyList<string> Services = [JobService, BackendService, GalleryService, PathService];

    public static readonly IReadOnlyList<ServiceRoute> All =
    [
        // Jobs (API docs 1–3): POST /api/job, DELETE /api/job/{id}, /outputs, the WebSocket /api/job/{id}/stream.
        Subtree(JobService, "/api/job"),
        Subtree(JobService, "/api/jobs"),
        // Job groups (API doc 4): the singular POST is the original's alias of the plural.
        Exact(JobService, "/api/job-group"),
        Subtree(JobService, "/api/job-groups"),
        Subtree(JobService, "/ws/job-groups"),
        Subtree(JobService, "/api/workflows"),
        // The worker orchestrator (API doc 5) is part of the job service: client API, and the public webhooks and
        // debug routes (the gateway answers /_public/status, /_public/docs and /_public/metrics itself).
        Subtree(JobService, "/api/v1"),
        Subtree(JobService, "/_public"),

        Subtree(BackendService, "/api/backends"),
        // The render agents' protocol: agents are backends, so BackendService answers it (docs/render-agents.md).
        Subtree(BackendService, "/_worker"),

        Subtree(GalleryService, "/api/gallery"),
        // Project and file endpoints (API doc 3).
        Exact(GalleryService, "/api/project"),
        Exact(GalleryService, "/api/save-project"),
        Exact(GalleryService, "/api/load-project"),
        Exact(GalleryService, "/api/list-projects"),
        Exact(GalleryService, "/api/scan-project-images"),
        Exact(GalleryService, "/api/scan-project-panels"),
        Exact(GalleryService, "/api/scan-folder-images"),
        Exact(GalleryService, "/api/scan-versions"),
        Exact(GalleryService, "/api/serve-image"),
        Exact(GalleryService, "/api/delete-image"),
        Exact(GalleryService, "/api/create-folder"),
        Exact(GalleryService, "/api/browse-folders"),
        Exact(GalleryService, "/api/png-metadata"),
        Exact(GalleryService, "/api/save-image"),
        Exact(GalleryService, "/api/save-base64-image"),

        Subtree(PathService, "/api/path-mappings"),
        Exact(PathService, "/api/translate-path"),
    ];

    /// <summary>The service that owns <paramref name="path"/>, or null when no service does.</summary>
    public static string? OwnerOf(string path) => All.FirstOrDefault(route => route.Matches(path))?.Service;

    private static ServiceRoute Exact(string service, string path) => new(service, path, Subtree: false);

    private static ServiceRoute Subtree(string service, string path) => new(service, path, Subtree: true);
}
