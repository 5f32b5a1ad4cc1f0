using Microsoft.AspNetCore.Cors.Infrastructure;

namespace DirectorsConsole.Gateway.Hosting;

/// <summary>
/// The CORS policy of <c>cors_origins</c> (<c>ORCHESTRATOR_CORS_ORIGINS</c>). The original allowed any
/// origin; with no authentication yet, the default here is pages served from this machine only. Same-origin
/// requests need no CORS at all. Credentials are allowed only for origins named explicitly.
/// </summary>
public static class GatewayCors
{
    public static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

    public static CorsPolicy Policy(string? configuredOrigins)
    {
        var origins = (configuredOrigins ?? "")
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(origin => origin.TrimEnd('/'))
            .ToArray();
        var policy = new CorsPolicyBuilder().WithMethods(Methods).AllowAnyHeader();

        if (origins.Length == 0)
        {
            policy.SetIsOriginAllowed(IsLocalOrigin);
        }
        else if (origins.Contains("*"))
        {
            policy.AllowAnyOrigin();
        }
        else
        {
            policy.WithOrigins(origins).AllowCredentials();
        }

        return policy.Build();
    }

    /// <summary>http(s) on localhost, 127.0.0.0/8 or [::1], any port.</summary>
    public static bool IsLocalOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.IsLoopback;
}
