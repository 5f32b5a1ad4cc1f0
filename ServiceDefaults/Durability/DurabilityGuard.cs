using DirectorsConsole.Messaging.Durability;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.ServiceDefaults.Durability;

/// <summary>Refuses every request that may change state (anything but GET, HEAD, OPTIONS) with 507 while the
/// <see cref="DurabilityGate"/> is closed, before the endpoint runs, so no request is half carried out.</summary>
public static class DurabilityGuard
{
    /// <summary>Seconds a client is asked to wait: freeing disk space is not instant.</summary>
    public const string RetryAfterSeconds = "5";

    public static IApplicationBuilder UseDurabilityGuard(this IApplicationBuilder app)
    {
        var gate = app.ApplicationServices.GetRequiredService<DurabilityGate>();
        return app.Use(async (context, next) =>
        {
            var method = context.Request.Method;
            if (gate.Fault is { } fault && !(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)))
            {
                await WriteRefusalAsync(context, $"Nothing was changed: the shared store (Redis) cannot persist writes now, so none are accepted until it can. Cause: {fault.Cause}");
                return;
            }

            await next(context);
        });
    }

    /// <summary>507 Insufficient Storage with Retry-After and a <c>detail</c>.</summary>
    public static Task WriteRefusalAsync(HttpContext context, string detail)
    {
        context.Response.StatusCode = StatusCodes.Status507InsufficientStorage;
        context.Response.Headers.RetryAfter = RetryAfterSeconds;
        return context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = StatusCodes.Status507InsufficientStorage, Detail = detail },
        }).AsTask();
    }
}
