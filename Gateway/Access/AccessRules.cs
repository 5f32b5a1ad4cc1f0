using DirectorsConsole.ServiceDefaults.Access;

namespace DirectorsConsole.Gateway.Access;

/// <summary>One line of the access table: requests with one of <see cref="Methods"/> (none listed: any method) whose
/// path matches <see cref="Pattern"/> need <see cref="Required"/> (<see cref="ClientRole.None"/>: no token at all).
/// A pattern is compared segment by segment, ignoring case; <c>*</c> stands for one segment, a final <c>**</c> for
/// any number (none included).</summary>
public sealed record AccessRule(IReadOnlyList<string> Methods, string Pattern, ClientRole Required)
{
    private readonly string[] _segments = AccessRules.Segments(Pattern);

    public bool Matches(string method, string[] pathSegments)
    {
        if (Methods.Count > 0 && !Methods.Contains(method, StringComparer.OrdinalIgnoreCase))
        {
            return false;
        }

        for (var i = 0; i < _segments.Length; i++)
        {
            if (_segments[i] == "**")
            {
                return true;
            }

            if (i >= pathSegments.Length || (_segments[i] != "*" && !_segments[i].Equals(pathSegments[i], StringComparison.OrdinalIgnoreCase)))
            {
                return false;
            }
        }

        return pathSegments.Length == _segments.Length;
    }
}

/// <summary>
/// Who may do what, for every path the gateway answers or forwards, in one table: the first matching rule decides.
/// A request no rule names falls to the defaults, so a route added to a service later is covered without an edit
/// here: a path with a <c>debug</c> or <c>admin</c> segment needs an admin, a read (GET, HEAD, OPTIONS, which a
/// WebSocket upgrade also is) a viewer, and anything else, which may change something, an operator.
/// </summary>
public static class AccessRules
{
    private static readonly string[] Reads = [HttpMethods.Get, HttpMethods.Head, HttpMethods.Options];
    private static readonly string[] AnyMethod = [];
    private static readonly string[] Post = [HttpMethods.Post];

    public static readonly IReadOnlyList<AccessRule> All =
    [
        // Probes and the suite's health: monitors and load balancers carry no token.
        new(Reads, GatewayPaths.SuiteHealth, ClientRole.None),
        new(Reads, GatewayPaths.SuiteHealthAlias, ClientRole.None),
        new(Reads, GatewayPaths.SelfHealth, ClientRole.None),
        new(Reads, "/alive", ClientRole.None),
        // The worker orchestrator's public routes, and the documentation /_public/docs leads to.
        new(Reads, GatewayPaths.PublicStatus, ClientRole.None),
        new(Reads, "/_public/metrics", ClientRole.None),
        new(Reads, GatewayPaths.PublicDocs, ClientRole.None),
        new(Reads, GatewayPaths.MergedOpenApi, ClientRole.None),
        new(Reads, $"/{GatewayPaths.SwaggerUi}/**", ClientRole.None),
        new(Reads, $"/{GatewayPaths.ReDoc}/**", ClientRole.None),
        // The approval webhook is called by outside systems and carries its own signature.
        new(AnyMethod, "/_public/webhooks/approval/**", ClientRole.None),
        new(AnyMethod, "/_public/debug/**", ClientRole.Admin),

        // Reads that the original's clients send as POST (a body carries the folder, filter or path): they change nothing.
        new(Post, "/api/translate-path", ClientRole.Viewer),
        new(Post, "/api/load-project", ClientRole.Viewer),
        new(Post, "/api/scan-project-images", ClientRole.Viewer),
        new(Post, "/api/scan-project-panels", ClientRole.Viewer),
        new(Post, "/api/scan-folder-images", ClientRole.Viewer),
        new(Post, "/api/scan-versions", ClientRole.Viewer),
        new(Post, "/api/gallery/scan-tree", ClientRole.Viewer),
        new(Post, "/api/gallery/scan-folder", ClientRole.Viewer),
        new(Post, "/api/gallery/scan-recursive", ClientRole.Viewer),
        new(Post, "/api/gallery/file-info", ClientRole.Viewer),
        new(Post, "/api/gallery/search", ClientRole.Viewer),
        new(Post, "/api/gallery/find-duplicates", ClientRole.Viewer),
        new(Post, "/api/gallery/folder-stats", ClientRole.Viewer),
    ];

    /// <summary>The render agents' protocol: these paths need a worker token (<see cref="WorkerTokenAuthenticationHandler"/>)
    /// and no client token or role opens them.</summary>
    public static readonly IReadOnlyList<AccessRule> WorkerRules =
    [
        new(AnyMethod, "/_worker/**", ClientRole.None),
    ];

    private static readonly string[] AdminSegments = ["debug", "admin"];

    /// <summary>True for a path only a render agent's worker token opens.</summary>
    public static bool RequiresWorker(string method, PathString path)
    {
        var segments = Segments(path.Value);
        return WorkerRules.Any(rule => rule.Matches(method, segments));
    }

    /// <summary>The role a request needs; <see cref="ClientRole.None"/> for a public one.</summary>
    public static ClientRole RequiredRole(string method, PathString path)
    {
        var segments = Segments(path.Value);
        foreach (var rule in All)
        {
            if (rule.Matches(method, segments))
            {
                return rule.Required;
            }
        }

        if (segments.Any(segment => AdminSegments.Contains(segment, StringComparer.OrdinalIgnoreCase)))
        {
            return ClientRole.Admin;
        }

        return Reads.Contains(method, StringComparer.OrdinalIgnoreCase) ? ClientRole.Viewer : ClientRole.Operator;
    }

    /// <summary>The non-empty segments of a path: <c>//a/b/</c> is <c>a</c>, <c>b</c>, as routing reads it.</summary>
    public static string[] Segments(string? path) =>
        (path ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries);
}
