using DirectorsConsole.Gateway.Health;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DirectorsConsole.Gateway.Apis;

public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        var health = app.MapGroup("").WithTags("Health");
        health.MapGet(GatewayPaths.SuiteHealth, GetSuiteHealthAsync)
            .WithName("GetSuiteHealth")
            .WithSummary("Health of the whole suite: every service, with each replica's answer.")
            .WithDescription("Always 200 while the gateway runs; status is degraded and failing names the services that are not healthy.");
        health.MapGet(GatewayPaths.SuiteHealthAlias, GetSuiteHealthAsync)
            .WithName("GetSuiteHealthAlias")
            .WithSummary("Alias of /health kept from API doc 1.");
        health.MapGet(GatewayPaths.PublicStatus, GetPublicStatus)
            .WithName("GetPublicStatus")
            .WithSummary("Confirms that the gateway is running (API doc 5).");
        return app;
    }

    public static async Task<Ok<SuiteHealth>> GetSuiteHealthAsync(SuiteHealthChecker checker, CancellationToken cancellationToken) =>
        TypedResults.Ok(await checker.CheckAsync(cancellationToken));

    public static Ok<PublicStatus> GetPublicStatus() => TypedResults.Ok(new PublicStatus("ok"));
}
