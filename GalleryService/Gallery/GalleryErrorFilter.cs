namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>Turns the gallery's exceptions into answers: <see cref="GalleryValidationException"/> into a 422 in
/// FastAPI's list form, <see cref="GalleryException"/> into ProblemDetails with its status and detail (503s with
/// <c>Retry-After</c>). Path exceptions pass through to the service's path exception handler (403/422).</summary>
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
            return TypedResults.UnprocessableEntity(ex.Errors.ToResponse());
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

            return TypedResults.Problem(ex.Message, statusCode: ex.Status, title: ex.Title, extensions: ex.Extensions);
        }
    }
}
