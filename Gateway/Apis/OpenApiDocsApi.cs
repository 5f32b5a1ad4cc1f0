using DirectorsConsole.Gateway.OpenApi;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DirectorsConsole.Gateway.Apis;

public static class OpenApiDocsApi
{
    /// <summary>Serves the merged <c>/openapi.json</c>, with Swagger UI at <c>/docs</c> and ReDoc at
    /// <c>/redoc</c> (both from assets embedded in Swashbuckle, so they work offline).</summary>
    public static WebApplication MapOpenApiDocsApi(this WebApplication app)
    {
        app.MapGet(GatewayPaths.MergedOpenApi, GetMergedDocumentAsync).ExcludeFromDescription();
        // API doc 5's documentation page is the suite's.
        app.MapGet(GatewayPaths.PublicDocs, RedirectToDocs).ExcludeFromDescription();

        app.UseSwaggerUI(options =>
        {
            options.RoutePrefix = GatewayPaths.SwaggerUi;
            options.DocumentTitle = OpenApiMerger.Title;
            options.SwaggerEndpoint(GatewayPaths.MergedOpenApi, "DirectorsConsole");
        });
        app.UseReDoc(options =>
        {
            options.RoutePrefix = GatewayPaths.ReDoc;
            options.DocumentTitle = OpenApiMerger.Title;
            options.SpecUrl = GatewayPaths.MergedOpenApi;
        });
        return app;
    }

    public static async Task<ContentHttpResult> GetMergedDocumentAsync(MergedOpenApiDocument document, CancellationToken cancellationToken) =>
        TypedResults.Content(await document.GetJsonAsync(cancellationToken), "application/json");

    public static RedirectHttpResult RedirectToDocs() => TypedResults.Redirect($"/{GatewayPaths.SwaggerUi}");
}
