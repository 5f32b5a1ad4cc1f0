using DirectorsConsole.ServiceDefaults.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace DirectorsConsole.Gateway.Routing;

/// <summary>
/// A proxy pipeline step that hides a replica's death or restart from the caller. A refused connection means
/// the request never reached the service, so sending it again is safe, a POST included: first to another
/// replica, and when every replica refuses (the AppHost is restarting the service) again every
/// <see cref="RetryDelay"/> for up to <see cref="GatewayOptions.RestartHold"/>, after which the caller gets a
/// 503 with Retry-After. Any other failure (a timeout, a connection reset after the request was sent) may have
/// reached the service and is never repeated; <see cref="ProxyProblems"/> reports it.
/// </summary>
/// <remarks>
/// To be sent again the body must be kept, so it is read whole before the first attempt (in memory up to
/// <see cref="BodyMemoryThreshold"/>, then in a temporary file). That is also where the body limit meets a
/// chunked body, which declares no length: Kestrel's limit (the same one) stops the read, and nothing is
/// forwarded.
/// </remarks>
public sealed class ReplicaFailover(
    IOptions<GatewayOptions> options,
    IOptions<RequestLimitsOptions> limits,
    TimeProvider timeProvider,
    ILogger<ReplicaFailover> logger)
{
    public static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(200);

    private const int BodyMemoryThreshold = 1024 * 1024;

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var proxy = context.GetReverseProxyFeature();
        var cluster = context.GetRouteModel().Cluster!;
        var service = cluster.ClusterId;
        if (cluster.DestinationsState.AllDestinations.Count == 0)
        {
            // No replica is configured at all: nothing can come back, so YARP's 503 goes out at once.
            await next(context);
            return;
        }

        if (!await TryBufferBodyAsync(context, service))
        {
            return;
        }

        var started = timeProvider.GetTimestamp();
        var refused = new HashSet<DestinationState>();
        var held = false;
        try
        {
            while (true)
            {
                var candidates = Candidates(cluster.DestinationsState, refused);
                if (candidates.Count == 0)
                {
                    // Every replica refused: wait for one to come back, within the hold.
                    held = true;
                    if (timeProvider.GetElapsedTime(started) >= options.Value.RestartHold)
                    {
                        logger.LogWarning("{Method} {Path}: every replica of {Service} refused connections for {Seconds:0.0} s; answering 503",
                            context.Request.Method, context.Request.Path, service, timeProvider.GetElapsedTime(started).TotalSeconds);
                        await ProxyProblems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable,
                            $"{service} has no live instance: every replica refused connections for {options.Value.RestartHoldSeconds} s (restart_hold_seconds)",
                            service);
                        return;
                    }

                    await Task.Delay(RetryDelay, timeProvider, context.RequestAborted);
                    refused.Clear();
                    continue;
                }

                proxy.AvailableDestinations = candidates;
                await next(context);

                if (context.GetForwarderErrorFeature() is not { } error
                    || !ProxyProblems.IsConnectionFailure(error.Exception)
                    || context.Response.HasStarted
                    || proxy.ProxiedDestination is not { } destination)
                {
                    if (held)
                    {
                        logger.LogInformation("{Method} {Path} was held {Seconds:0.0} s until {Service} accepted connections again",
                            context.Request.Method, context.Request.Path, timeProvider.GetElapsedTime(started).TotalSeconds, service);
                    }

                    return;
                }

                logger.LogDebug("{Destination} refused {Method} {Path}; trying again", destination.DestinationId, context.Request.Method, context.Request.Path);
                refused.Add(destination);
                PrepareRetry(context);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The caller gave up while the request was held; there is nobody to answer.
        }
    }

    /// <summary>The replicas to try next: the ones in rotation that have not refused this request, else any
    /// that has not, since one out of rotation may just have come back.</summary>
    private static IReadOnlyList<DestinationState> Candidates(ClusterDestinationsState destinations, HashSet<DestinationState> refused)
    {
        var available = destinations.AvailableDestinations.Where(d => !refused.Contains(d)).ToArray();
        return available.Length > 0 ? available : destinations.AllDestinations.Where(d => !refused.Contains(d)).ToArray();
    }

    /// <summary>Reads the whole body so it can be sent again; false when the caller has been answered instead.</summary>
    private async Task<bool> TryBufferBodyAsync(HttpContext context, string service)
    {
        var request = context.Request;
        var limit = limits.Value;
        if (request.ContentLength > limit.MaxRequestBodyBytes)
        {
            // Checking the declared length first answers without reading a body that cannot be accepted.
            await ProxyProblems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, limit.BodyTooLargeDetail, service: null);
            return false;
        }

        if (context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false })
        {
            return true;
        }

        request.EnableBuffering(BodyMemoryThreshold);
        try
        {
            await request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
        }
        catch (BadHttpRequestException exception)
        {
            var detail = exception.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? limit.BodyTooLargeDetail
                : KestrelRejections.Describe(exception.StatusCode, exception);
            await ProxyProblems.WriteAsync(context, exception.StatusCode, detail, service: null);
            return false;
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException && context.RequestAborted.IsCancellationRequested)
        {
            return false;
        }

        request.Body.Position = 0;
        return true;
    }

    private static void PrepareRetry(HttpContext context)
    {
        context.Features.Set<IForwarderErrorFeature>(null);
        context.Response.Clear();
        if (context.Request.Body.CanSeek)
        {
            context.Request.Body.Position = 0;
        }
    }
}
