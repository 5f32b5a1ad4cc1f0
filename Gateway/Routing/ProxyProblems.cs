using System.Net.Http;
using System.Net.Sockets;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using DirectorsConsole.ServiceDefaults.Errors;
using DirectorsConsole.ServiceDefaults.Hosting;
using Yarp.ReverseProxy.Forwarder;

namespace DirectorsConsole.Gateway.Routing;

/// <summary>
/// The first step of the proxy pipeline. It lets service responses through untouched and gives YARP's empty
/// 502/503/504 answers a problem body whose <c>detail</c> names the service, because clients of the original
/// show <c>detail</c> to the user.
/// </summary>
public static class ProxyProblems
{
    public static async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        // A service's own error responses are final; the status-code-pages fallback must not rewrite them.
        if (context.Features.Get<IStatusCodePagesFeature>() is { } statusCodePages)
        {
            statusCodePages.Enabled = false;
        }

        await next(context);

        if (context.GetForwarderErrorFeature() is not { } error || context.Response.HasStarted)
        {
            return;
        }

        var service = context.GetReverseProxyFeature().Cluster.Config.ClusterId;
        var limits = context.RequestServices.GetRequiredService<IOptions<RequestLimitsOptions>>().Value;
        if (Describe(error, service, limits) is ({ } status, { } detail))
        {
            await WriteAsync(context, status, detail, service);
        }
    }

    /// <summary>True when the request never reached the service: refused, unreachable or reset on connect.</summary>
    public static bool IsConnectionFailure(Exception? exception) =>
        exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError }
        || (exception?.InnerException is { } inner && IsConnectionFailure(inner));

    private static (int? Status, string? Detail) Describe(IForwarderErrorFeature error, string service, RequestLimitsOptions limits)
    {
        if (FindInChain<BadHttpRequestException>(error.Exception) is { StatusCode: StatusCodes.Status413PayloadTooLarge })
        {
            return (StatusCodes.Status413PayloadTooLarge, limits.BodyTooLargeDetail);
        }

        return error.Error switch
        {
            ForwarderError.NoAvailableDestinations =>
                (StatusCodes.Status503ServiceUnavailable, $"{service} has no live instance"),
            ForwarderError.RequestTimedOut or ForwarderError.UpgradeActivityTimeout =>
                (StatusCodes.Status504GatewayTimeout, $"{service} did not answer in time"),
            _ when FindInChain<SocketException>(error.Exception) is { SocketErrorCode: SocketError.ConnectionRefused } =>
                (StatusCodes.Status502BadGateway, $"{service} refused the connection"),
            _ when IsConnectionFailure(error.Exception) =>
                (StatusCodes.Status502BadGateway, $"{service} could not be reached"),
            // The caller went away or sent a broken body: there is nobody to tell, or YARP's 400 says it.
            ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
                or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeRequestClient => (null, null),
            _ => (StatusCodes.Status502BadGateway, $"{service} failed while answering ({error.Error})"),
        };
    }

    private static T? FindInChain<T>(Exception? exception) where T : Exception
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is T match)
            {
                return match;
            }
        }

        return null;
    }

    /// <summary>Answers with a problem body; a 503 also says when to try again.</summary>
    public static async Task WriteAsync(HttpContext context, int status, string detail, string? service)
    {
        context.Response.Clear();
        context.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            context.Response.Headers.RetryAfter = ApiErrorHandling.RetryAfterSeconds;
        }

        var problem = new ProblemDetails { Status = status, Detail = detail };
        if (service is not null)
        {
            problem.Extensions["service"] = service;
        }

        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem });
    }
}
