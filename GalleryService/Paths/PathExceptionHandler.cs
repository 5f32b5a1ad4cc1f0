using DirectorsConsole.GalleryService.Project;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace DirectorsConsole.GalleryService.Paths;

/// <summary>Answers <see cref="PathNotAllowedException"/> with 403 and <see cref="InvalidClientPathException"/>
/// with 422 (and the project endpoints' <see cref="ApiProblemException"/> with its status), all as ProblemDetails whose <c>detail</c> names the rule and whose <c>field</c> names the request
/// field, for every endpoint of the service. Registered ahead of ServiceDefaults' handlers (whose last one
/// answers everything with 500).</summary>
public sealed class PathExceptionHandler(IProblemDetailsService problemDetails, ILogger<PathExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var (status, title, field) = exception switch
        {
            PathNotAllowedException notAllowed => (StatusCodes.Status403Forbidden, "Path not allowed", notAllowed.Field),
            InvalidClientPathException invalid => (StatusCodes.Status422UnprocessableEntity, "Invalid path or name", invalid.Field),
            ApiProblemException apiProblem => (apiProblem.Status, apiProblem.Title, null),
            _ => (0, null, null),
        };
        if (status == 0)
        {
            return false;
        }

        logger.LogInformation("Refused {Method} {Path} with {Status}: {Reason}", httpContext.Request.Method, httpContext.Request.Path, status, exception.Message);
        httpContext.Response.StatusCode = status;
        var problem = new ProblemDetails { Status = status, Title = title, Detail = exception.Message };
        if (field is not null)
        {
            problem.Extensions["field"] = field;
        }

        return await problemDetails.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }
}
