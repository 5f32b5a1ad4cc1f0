using DirectorsConsole.Gateway.Routing;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DirectorsConsole.Gateway.Apis;

public static class ProxyApi
{
    /// <summary>Forwards the route table's paths to the services (REST and WebSocket) and answers any
    /// other <c>/api</c> path with a 404 that says so, rather than an empty one.</summary>
    public static IEndpointRouteBuilder MapServiceProxy(this IEndpointRouteBuilder app)
    {
        var failover = app.ServiceProvider.GetRequiredService<ReplicaFailover>();
        app.MapReverseProxy(pipeline =>
        {
            pipeline.Use(ProxyProblems.InvokeAsync);
            pipeline.Use(failover.InvokeAsync);
            pipeline.UseLoadBalancing();
            pipeline.UsePassiveHealthChecks();
        });

        // Route precedence puts every literal prefix of the table ahead of this catch-all.
        app.Map("/api/{**rest}", NoRoute).ExcludeFromDescription();
        return app;
    }

    public static ProblemHttpResult NoRoute(HttpContext context) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, detail: $"No route for {context.Request.Path}");
}
