using System.Diagnostics;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Access;

/// <summary>
/// Makes a service answer only requests that came through the Gateway, which decides who may do what: with a
/// <c>gateway_secret</c> configured, every request but the probes (<c>/health</c>, <c>/alive</c>, which the
/// AppHost and the Gateway call directly) must carry it in <see cref="AccessHeaders.GatewaySecret"/>, or it is
/// refused with 403 before anything else runs. The client the Gateway names is added to the request's trace.
/// Without a secret (no clients configured, no AppHost) every request is served, as before access control.
/// </summary>
public static class GatewayOnlyGuard
{
    public static IApplicationBuilder UseGatewayOnlyGuard(this IApplicationBuilder app, params string[] probePaths)
    {
        var options = app.ApplicationServices.GetRequiredService<IOptions<AccessOptions>>().Value;
        if (string.IsNullOrWhiteSpace(options.GatewaySecret))
        {
            return app;
        }

        var expected = ClientTokenDigest.Of(options.GatewaySecret.Trim());
        var probes = probePaths.Select(path => new PathString(path)).ToArray();
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(GatewayOnlyGuard));
        return app.Use(async (context, next) =>
        {
            if (probes.Any(probe => context.Request.Path.Equals(probe, StringComparison.OrdinalIgnoreCase)))
            {
                await next(context);
                return;
            }

            var presented = context.Request.Headers[AccessHeaders.GatewaySecret].ToString();
            if (!ClientTokenDigest.Matches(ClientTokenDigest.Of(presented), expected))
            {
                logger.LogWarning("Refused {Method} {Path} from {Remote}: it did not come through the gateway",
                    context.Request.Method, context.Request.Path, context.Connection.RemoteIpAddress);
                await ApiErrorHandling.WriteProblemAsync(context, StatusCodes.Status403Forbidden,
                    "This service answers only requests forwarded by the gateway; send the request to the gateway's port with an X-Client-Token.");
                return;
            }

            if (Activity.Current is { } activity)
            {
                activity.SetTag("enduser.id", context.Request.Headers[AccessHeaders.ClientName].ToString());
                activity.SetTag("enduser.role", context.Request.Headers[AccessHeaders.ClientRole].ToString());
            }

            await next(context);
        });
    }
}
