using DirectorsConsole.ServiceDefaults.Errors;

namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>The schema of a gallery 422 in the OpenAPI document: FastAPI's <c>detail</c> list, with
/// <c>success: false</c> and the messages joined (written by <see cref="SuccessFlagErrors.Body"/>).</summary>
public sealed record GalleryValidationErrorResponse(IReadOnlyList<ValidationError> Detail, bool Success, string Message);

/// <summary>Turns the gallery's exceptions into answers: <see cref="GalleryValidationException"/> into a 422 in
/// FastAPI's list form, <see cref="GalleryException"/> into ProblemDetails with its status and detail (503s with
/// <c>Retry-After</c>). Both also carry <c>success: false</c> and a <c>message</c> (the 422 here, the problem through the
/// group's <see cref="SuccessFlagErrors"/> marking), which the original web app reads where the original answered
/// 200 with them. Path exceptions pass through to the service's path exception handler
/// (403/422).</summary>
public sealed class GalleryErrorFilter(ILogger<GalleryErrorFilter> logger) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (GalleryValidationException ex)
        {
            return TypedResults.Json(SuccessFlagErrors.Body(context.HttpContext, ex.Errors.ToResponse()), statusCode: StatusCodes.Status422UnprocessableEntity);
        }
        catch (GalleryException ex)
        {
            var request = context.HttpContext.Request;
            if (ex.Status >= StatusCodes.Status500InternalServerError)
            {
                logger.LogWarning("{Method} {Path} answered {Status}: {Detail}", request.Method, request.Path, ex.Status, ex.Message);
            }

            if (ex.Status == StatusCodes.Status503ServiceUnavailable)
            {
                context.HttpContext.Response.Headers.RetryAfter = "1";
            }

            // The group's success-flag marking adds success: false and message when the problem is written.
            return TypedResults.Problem(ex.Message, statusCode: ex.Status, title: ex.Title, extensions: ex.Extensions);
        }
    }
}
