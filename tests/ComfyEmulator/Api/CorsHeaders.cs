using Microsoft.Extensions.Options;

namespace DirectorsConsole.ComfyEmulator.Api;

/// <summary>
/// ComfyUI's CORS middleware, active when it is started with <c>--enable-cors-header [origin]</c>: every
/// <c>OPTIONS</c> request is a preflight answered 200 with an empty body, without reaching a route, and every answer
/// carries the same four headers whatever the request's <c>Origin</c>. Browsers need it because the web app polls
/// the render nodes directly from the page.
/// </summary>
public static class CorsHeaders
{
    public const string AllowedMethods = "POST, GET, DELETE, PUT, OPTIONS, PATCH";
    public const string AllowedHeaders = "Content-Type, Authorization";

    public static WebApplication UseComfyCors(this WebApplication app)
    {
        var origin = app.Services.GetRequiredService<IOptions<EmulatorOptions>>().Value.EnableCorsHeader;
        if (origin.Length == 0)
        {
            return app;
        }

        app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.AccessControlAllowOrigin = origin;
            headers.AccessControlAllowMethods = AllowedMethods;
            headers.AccessControlAllowHeaders = AllowedHeaders;
            headers.AccessControlAllowCredentials = "true";
            if (HttpMethods.IsOptions(context.Request.Method))
            {
                context.Response.StatusCode = StatusCodes.Status200OK;
                return;
            }

            await next(context);
        });
        return app;
    }
}
