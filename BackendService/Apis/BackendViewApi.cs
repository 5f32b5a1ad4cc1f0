using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Agents;
using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Comfy;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Apis;

/// <summary>
/// <c>GET /api/backends/{id}/view</c>: a file of a render node's <c>/view</c>, streamed through this service, so a
/// browser that cannot reach the node (another network, a firewall) still sees its outputs.
/// </summary>
public static class BackendViewApi
{
    private static readonly string[] FileTypes = ["output", "input", "temp"];

    private static readonly Microsoft.AspNetCore.StaticFiles.FileExtensionContentTypeProvider ContentTypes = new();

    public static IEndpointRouteBuilder MapBackendViewApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/backends/{id}/view", ViewBackendFileAsync)
            .WithName("ViewBackendFile")
            .WithSummary("Stream a file (output, input or temp) from a render node's /view; Range requests are passed on")
            .WithTags("Backends");
        return app;
    }

    public static async Task<Results<BackendFileResult, PhysicalFileHttpResult, NotFound<ProblemDetails>, UnprocessableEntity<ValidationErrorResponse>, ProblemHttpResult>> ViewBackendFileAsync(
        string id,
        string? filename,
        string? subfolder,
        string? type,
        HttpContext context,
        BackendRegistry registry,
        ComfyPromptClient comfy,
        IOptions<DispatchOptions> options,
        AgentOutputStore agentOutputs,
        CancellationToken cancellationToken)
    {
        var errors = Validate(filename, subfolder, type);
        if (errors.HasErrors)
        {
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        if (await registry.FindAsync(id, cancellationToken) is not { } backend)
        {
            return TypedResults.NotFound(new ProblemDetails { Status = StatusCodes.Status404NotFound, Detail = $"Backend '{id}' is not registered." });
        }

        if (backend.IsAgent)
        {
            // A render agent's outputs were uploaded here; they are served as its node would serve them.
            var (path, refused) = agentOutputs.Locate(backend.Id, filename, subfolder, type);
            if (refused is not null || !File.Exists(path))
            {
                return TypedResults.NotFound(new ProblemDetails
                {
                    Status = StatusCodes.Status404NotFound,
                    Detail = $"Render agent {backend.Name} has uploaded no {type ?? "output"} file '{filename}' in '{subfolder ?? ""}'.",
                });
            }

            return TypedResults.PhysicalFile(path!, ContentTypes.TryGetContentType(path!, out var contentType) ? contentType : "application/octet-stream",
                enableRangeProcessing: true);
        }

        RangeHeaderValue.TryParse(context.Request.Headers.Range.ToString(), out var range);
        using var headersTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        headersTimeout.CancelAfter(options.Value.ViewTimeout);
        HttpResponseMessage response;
        try
        {
            response = await comfy.GetViewAsync(backend.BaseAddress, filename!, subfolder ?? "", type ?? "output", range, headersTimeout.Token);
        }
        catch (ComfyUnreachableException ex)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status502BadGateway,
                detail: $"Render node {backend.Name} ({backend.BaseAddress}) cannot be reached: {ex.InnerException?.Message ?? ex.Message}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status504GatewayTimeout,
                detail: $"Render node {backend.Name} did not answer within {options.Value.ViewTimeout.TotalSeconds:0} s.");
        }

        if (response.IsSuccessStatusCode)
        {
            context.Response.RegisterForDispose(response);
            return new BackendFileResult(response);
        }

        using (response)
        {
            return response.StatusCode == HttpStatusCode.NotFound
                ? TypedResults.NotFound(new ProblemDetails
                {
                    Status = StatusCodes.Status404NotFound,
                    Detail = $"Render node {backend.Name} has no {type ?? "output"} file '{filename}' in '{subfolder ?? ""}'.",
                })
                : TypedResults.Problem(statusCode: StatusCodes.Status502BadGateway,
                    detail: $"Render node {backend.Name} answered {(int)response.StatusCode} {response.ReasonPhrase} for '{filename}'.");
        }
    }

    /// <summary>ComfyUI's own rules (400 for a filename starting with <c>/</c> or containing <c>..</c>, 403 for a
    /// subfolder outside its folder), checked here so a bad path never reaches the node.</summary>
    private static ValidationErrorList Validate(string? filename, string? subfolder, string? type)
    {
        var errors = new ValidationErrorList();
        if (string.IsNullOrEmpty(filename))
        {
            errors.Add("missing", "Field required", null, "query", "filename");
        }
        else if (filename.Contains("..", StringComparison.Ordinal) || filename[0] is '/' or '\\' || filename.Contains('\0'))
        {
            errors.Invalid("the filename must not start with '/' or contain '..' or NUL", JsonValue.Create(filename), "query", "filename");
        }

        if (subfolder is { Length: > 0 }
            && (subfolder[0] is '/' or '\\' || subfolder.Contains('\0') || subfolder.Contains(':')
                || subfolder.Split('/', '\\').Any(segment => segment == "..")))
        {
            errors.Invalid("the subfolder must be relative and stay inside the node's folder", JsonValue.Create(subfolder), "query", "subfolder");
        }

        if (type is not null && !FileTypes.Contains(type))
        {
            errors.Add("enum", "Input should be 'output', 'input' or 'temp'", JsonValue.Create(type), "query", "type");
        }

        return errors;
    }
}

/// <summary>The node's answer passed on: status (200 or 206), the headers a browser needs and the body, streamed.</summary>
public sealed class BackendFileResult(HttpResponseMessage response) : IResult, IEndpointMetadataProvider
{
    private static readonly string[] PassedHeaders = ["Content-Type", "Content-Length", "Content-Disposition", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified", "Cache-Control"];

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = (int)response.StatusCode;
        foreach (var name in PassedHeaders)
        {
            if (response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values))
            {
                httpContext.Response.Headers[name] = values.ToArray();
            }
        }

        await using var body = await response.Content.ReadAsStreamAsync(httpContext.RequestAborted);
        await body.CopyToAsync(httpContext.Response.Body, httpContext.RequestAborted);
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(byte[]), ["image/png", "image/jpeg", "image/webp", "video/mp4", "application/octet-stream"]));
}
