using System.Text.Json;
using DirectorsConsole.ServiceDefaults.Durability;
using DirectorsConsole.ServiceDefaults.Hosting;
using DirectorsConsole.Messaging;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Errors;

/// <summary>
/// The suite's error format (README, "Errors"): every error body has a string <c>detail</c> beside the
/// RFC 9457 fields, request-body problems are 422 with FastAPI's list form, and no bad input is a 500.
/// </summary>
public static class ApiErrorHandling
{
    /// <summary>The <c>Retry-After</c> of every 503: long enough for a restarted process or a reconnect to Redis.</summary>
    public const string RetryAfterSeconds = "5";

    public static IServiceCollection AddApiErrorHandling(this IServiceCollection services)
    {
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            // ASP.NET Core adds the RFC 9457 "traceId" itself; only the detail clients parse is ours to ensure.
            var problem = context.ProblemDetails;
            var request = context.HttpContext.Request;
            problem.Detail ??= problem.Status == StatusCodes.Status404NotFound && context.HttpContext.GetEndpoint() is null
                ? $"No endpoint matches {request.Method} {request.Path}."
                : problem.Title ?? "The request failed.";
            SuccessFlagErrors.Decorate(context.HttpContext, problem);
        });
        services.AddExceptionHandler<BadRequestExceptionHandler>();
        services.AddExceptionHandler<DependencyUnavailableExceptionHandler>();
        services.AddExceptionHandler<UnhandledExceptionHandler>();
        // Minimal APIs then throw BadHttpRequestException for unreadable bodies instead of a bare 400,
        // so BadRequestExceptionHandler can answer with a body that says what is wrong.
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        return services;
    }

    /// <summary>Turns an unreadable or missing JSON body into the 422 FastAPI clients expect.</summary>
    internal sealed class BadRequestExceptionHandler(ILogger<BadRequestExceptionHandler> logger) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
        {
            if (exception is not BadHttpRequestException badRequest)
            {
                return false;
            }

            logger.LogInformation("Rejected request {Method} {Path}: {Reason}", httpContext.Request.Method, httpContext.Request.Path, badRequest.Message);
            if (badRequest.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                var limits = httpContext.RequestServices.GetRequiredService<IOptions<RequestLimitsOptions>>().Value;
                await WriteProblemAsync(httpContext, StatusCodes.Status413PayloadTooLarge, limits.BodyTooLargeDetail);
                return true;
            }

            if (KestrelRejections.BodyFramingError(badRequest) is { } framing)
            {
                await WriteProblemAsync(httpContext, framing.StatusCode, KestrelRejections.Describe(framing.StatusCode, framing));
                return true;
            }

            var errors = new ValidationErrorList();
            switch (badRequest.InnerException)
            {
                case JsonException json:
                    var location = new List<object> { "body" };
                    location.AddRange(JsonPathSegments(json.Path));
                    errors.Add("json_invalid", JsonErrorMessage(json), null, location.ToArray());
                    break;
                default:
                    if (badRequest.Message.Contains("body", StringComparison.OrdinalIgnoreCase))
                    {
                        errors.Missing(null, "body");
                    }
                    else
                    {
                        errors.Add("value_error", badRequest.Message, null, "request");
                    }

                    break;
            }

            httpContext.Response.StatusCode = StatusCodes.Status422UnprocessableEntity;
            await httpContext.Response.WriteAsJsonAsync(SuccessFlagErrors.Body(httpContext, errors.ToResponse()), cancellationToken);
            return true;
        }

        private static IEnumerable<object> JsonPathSegments(string? path)
        {
            if (string.IsNullOrEmpty(path) || path == "$")
            {
                yield break;
            }

            foreach (var part in path.TrimStart('$').Split('.', StringSplitOptions.RemoveEmptyEntries))
            {
                var bracket = part.IndexOf('[');
                var name = bracket < 0 ? part : part[..bracket];
                if (name.Length > 0)
                {
                    yield return name.Trim('\'', '[', ']');
                }

                if (bracket >= 0 && int.TryParse(part[(bracket + 1)..].TrimEnd(']'), out var index))
                {
                    yield return index;
                }
            }
        }

        // System.Text.Json's messages name .NET types; say what is wrong in the caller's terms instead.
        private static string JsonErrorMessage(JsonException json)
        {
            var where = json.LineNumber is { } line ? $" (line {line + 1}, position {json.BytePositionInLine + 1})" : "";
            return string.IsNullOrEmpty(json.Path) || json.Path == "$"
                ? $"JSON decode error: the body is not valid JSON or not a JSON object{where}"
                : $"JSON decode error: the value of '{json.Path.TrimStart('$', '.')}' is malformed or of the wrong type{where}";
        }
    }

    /// <summary>Redis unreachable or too slow is the suite's dependency being down, not the caller's fault: 503.
    /// Redis unable to persist a write is 507, as the durability guard answers before a request starts.</summary>
    internal sealed class DependencyUnavailableExceptionHandler(ILogger<DependencyUnavailableExceptionHandler> logger) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
        {
            if (exception is not RedisUnavailableException)
            {
                return false;
            }

            if (exception is RedisNotDurableException)
            {
                logger.LogWarning("{Method} {Path} was refused because Redis cannot persist writes: {Reason}",
                    httpContext.Request.Method, httpContext.Request.Path, exception.Message);
                await DurabilityGuard.WriteRefusalAsync(httpContext,
                    $"The shared store (Redis) cannot persist writes now, so the request was not completed: {exception.Message}");
                return true;
            }

            logger.LogWarning("{Method} {Path} failed because Redis is unavailable: {Reason}",
                httpContext.Request.Method, httpContext.Request.Path, exception.Message);
            await WriteProblemAsync(httpContext, StatusCodes.Status503ServiceUnavailable,
                $"The shared store (Redis) is unavailable, so the request could not be completed: {exception.Message}");
            return true;
        }
    }

    /// <summary>The last resort: log the exception with its trace and answer 500 without internals.</summary>
    internal sealed class UnhandledExceptionHandler(ILogger<UnhandledExceptionHandler> logger) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
        {
            if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
            {
                // The client went away; there is nobody to answer.
                return true;
            }

            logger.LogError(exception, "Unhandled error in {Method} {Path}", httpContext.Request.Method, httpContext.Request.Path);
            await WriteProblemAsync(httpContext, StatusCodes.Status500InternalServerError,
                "An unexpected error occurred; it has been logged with the trace id of this request.");
            return true;
        }
    }

    /// <summary>Writes a problem body with <paramref name="detail"/>; a 503 also says when to try again.</summary>
    public static Task WriteProblemAsync(HttpContext httpContext, int status, string detail)
    {
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            httpContext.Response.Headers.RetryAfter = RetryAfterSeconds;
        }

        httpContext.Response.StatusCode = status;
        var writer = httpContext.RequestServices.GetRequiredService<IProblemDetailsService>();
        return writer.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails = new ProblemDetails { Status = status, Detail = detail },
        }).AsTask();
    }
}
