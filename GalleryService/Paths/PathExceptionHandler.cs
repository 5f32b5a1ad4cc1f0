using System.Globalization;
using System.Text.RegularExpressions;
using DirectorsConsole.GalleryService.Project;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace DirectorsConsole.GalleryService.Paths;

/// <summary>Answers, for every endpoint of the service, <see cref="InvalidClientPathException"/> with a 422 in
/// FastAPI's list form (<c>{"detail": [{type, loc, msg, input}]}</c>, as request validation is everywhere in the
/// suite), <see cref="PathNotAllowedException"/> with a 403 ProblemDetails whose <c>detail</c> names the rule and
/// whose <c>field</c> names the request field, and the project endpoints' <see cref="ApiProblemException"/> with
/// its status, and file-system errors of files that changed under a request as 404/409 (a full disk 507), never 500.
/// Registered ahead of ServiceDefaults' handlers (whose last one answers everything with 500).</summary>
public sealed partial class PathExceptionHandler(IProblemDetailsService problemDetails, ILogger<PathExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is InvalidClientPathException invalid)
        {
            Log(httpContext, StatusCodes.Status422UnprocessableEntity, exception);
            var errors = new ValidationErrorList().Invalid(invalid.Message, invalid.Input, [invalid.Location, .. LocationSegments(invalid.Field)]);
            httpContext.Response.StatusCode = StatusCodes.Status422UnprocessableEntity;
            await httpContext.Response.WriteAsJsonAsync(SuccessFlagErrors.Body(httpContext, errors.ToResponse()), cancellationToken);
            return true;
        }

        var (status, title, field) = exception switch
        {
            PathNotAllowedException notAllowed => (StatusCodes.Status403Forbidden, "Path not allowed", notAllowed.Field),
            ApiProblemException apiProblem => (apiProblem.Status, apiProblem.Title, null),
            // Files change while a request works on them (another client, a link swapped): that is a 404 or 409 for
            // the caller to retry, a full disk a 507, never a 500.
            // (BadHttpRequestException is an IOException too: a malformed request, answered by ServiceDefaults.)
            BadHttpRequestException => (0, null, null),
            FileNotFoundException or DirectoryNotFoundException => (StatusCodes.Status404NotFound, "Not found", null),
            IOException when ConfinedFile.IsDiskFull(exception) => (StatusCodes.Status507InsufficientStorage, "Insufficient storage", null),
            IOException => (StatusCodes.Status409Conflict, "File system conflict", null),
            UnauthorizedAccessException => (StatusCodes.Status403Forbidden, "Permission denied", null),
            _ => (0, null, null),
        };
        if (status == 0)
        {
            return false;
        }

        Log(httpContext, status, exception);
        httpContext.Response.StatusCode = status;
        var detail = exception is ApiProblemException or PathNotAllowedException
            ? exception.Message
            : $"The file system refused the operation ({exception.Message}); the files may have changed meanwhile. Nothing more was changed; try again.";
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail };
        if (field is not null)
        {
            problem.Extensions["field"] = field;
        }

        return await problemDetails.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    /// <summary><c>project.path</c> → <c>project</c>, <c>path</c>; <c>files[2]</c> → <c>files</c>, <c>2</c>: FastAPI's <c>loc</c> after the location.</summary>
    private static IEnumerable<object> LocationSegments(string field)
    {
        foreach (Match segment in FieldSegment().Matches(field))
        {
            yield return segment.Groups["index"].Success
                ? int.Parse(segment.Groups["index"].Value, NumberStyles.None, CultureInfo.InvariantCulture)
                : segment.Groups["name"].Value;
        }
    }

    private void Log(HttpContext httpContext, int status, Exception exception) =>
        logger.LogInformation("Refused {Method} {Path} with {Status}: {Reason}", httpContext.Request.Method, httpContext.Request.Path, status, exception.Message);

    [GeneratedRegex(@"\[(?<index>[0-9]{1,9})\]|(?<name>[^.\[\]]+)", RegexOptions.CultureInvariant)]
    private static partial Regex FieldSegment();
}
