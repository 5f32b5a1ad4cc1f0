namespace DirectorsConsole.Gateway;

/// <summary>The paths the gateway answers itself rather than forwarding.</summary>
public static class GatewayPaths
{
    public const string SuiteHealth = "/health";
    public const string SuiteHealthAlias = "/api/health";
    /// <summary>The gateway process's own readiness (what ServiceDefaults maps at /health elsewhere).</summary>
    public const string SelfHealth = "/health/self";
    public const string PublicStatus = "/_public/status";
    public const string PublicDocs = "/_public/docs";
    public const string PublicMetrics = "/_public/metrics";
    public const string MergedOpenApi = "/openapi.json";
    public const string SwaggerUi = "docs";
    public const string ReDoc = "redoc";
}
