using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.PathService.Infrastructure;
using DirectorsConsole.PathService.Model;
using DirectorsConsole.ServiceDefaults.Errors;
using DirectorsConsole.ServiceDefaults.Paths;
using Microsoft.AspNetCore.Http.HttpResults;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.PathService.Apis;

/// <summary>The path mapping and translation endpoints of API doc 3</summary>
public static class PathMappingsApi
{
    public static RouteGroupBuilder MapPathMappingsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("Path Translation");

        api.MapGet("/path-mappings", ListPathMappingsAsync)
            .WithName("ListPathMappings")
            .WithSummary("List every path mapping and the OS this server runs on");
        api.MapGet("/path-mappings/{id}", GetPathMappingAsync)
            .WithName("GetPathMapping")
            .WithSummary("Get one path mapping");
        api.MapPost("/path-mappings", CreatePathMappingAsync)
            .WithName("CreatePathMapping")
            .WithSummary("Add a path mapping; empty and half-typed prefixes are stored as they are and ignored by translation until usable");
        api.MapPut("/path-mappings/{id}", UpdatePathMappingAsync)
            .WithName("UpdatePathMapping")
            .WithSummary("Replace every field of a path mapping");
        api.MapDelete("/path-mappings/{id}", DeletePathMappingAsync)
            .WithName("DeletePathMapping")
            .WithSummary("Remove a path mapping");
        api.MapPost("/translate-path", TranslatePathAsync)
            .WithName("TranslatePath")
            .WithSummary("Translate a path for another OS (default: this server's) with the current mappings");
        return api;
    }

    public static async Task<Ok<PathMappingListResponse>> ListPathMappingsAsync(PathMappingStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok(new PathMappingListResponse(await store.ListAsync(cancellationToken), PathOs.Current));

    public static async Task<Results<Ok<PathMappingResponse>, NotFound<ProblemDetails>>> GetPathMappingAsync(
        string id, PathMappingStore store, CancellationToken cancellationToken) =>
        await store.FindAsync(id, cancellationToken) is { } mapping
            ? TypedResults.Ok(new PathMappingResponse(mapping))
            : MappingNotFound(id);

    public static async Task<Results<Created<PathMappingResponse>, UnprocessableEntity<ValidationErrorResponse>>> CreatePathMappingAsync(
        PathMappingRequest request, PathMappingStore store, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var validation = Validate(request);
        if (!validation.IsValid)
        {
            return TypedResults.UnprocessableEntity(ToErrors(validation, request, json.Value));
        }

        var mapping = ToMapping(Guid.NewGuid().ToString(), validation, request);
        var result = await store.CreateAsync(mapping, cancellationToken);
        return result == PathMappingWriteStatus.Saved
            ? TypedResults.Created($"/api/path-mappings/{mapping.Id}", new PathMappingResponse(mapping))
            : throw new InvalidOperationException($"Creating path mapping {mapping.Id} failed: {result}.");
    }

    public static async Task<Results<Ok<PathMappingResponse>, NotFound<ProblemDetails>, UnprocessableEntity<ValidationErrorResponse>>> UpdatePathMappingAsync(
        string id, PathMappingRequest request, PathMappingStore store, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var validation = Validate(request);
        if (!validation.IsValid)
        {
            return TypedResults.UnprocessableEntity(ToErrors(validation, request, json.Value));
        }

        var mapping = ToMapping(id, validation, request);
        var result = await store.UpdateAsync(mapping, cancellationToken);
        return result switch
        {
            PathMappingWriteStatus.Saved => TypedResults.Ok(new PathMappingResponse(mapping)),
            PathMappingWriteStatus.NotFound => MappingNotFound(id),
            _ => throw new InvalidOperationException($"Updating path mapping {id} failed: {result}."),
        };
    }

    public static async Task<Results<Ok<PathMappingDeletedResponse>, NotFound<ProblemDetails>>> DeletePathMappingAsync(
        string id, PathMappingStore store, CancellationToken cancellationToken) =>
        await store.DeleteAsync(id, cancellationToken)
            ? TypedResults.Ok(new PathMappingDeletedResponse(true, id))
            : MappingNotFound(id);

    /// <summary>Translates with mappings that are never older than Redis's at the time of the request: the
    /// cached translator is used only when the change counter in Redis still matches it (one GET), so a mapping
    /// just saved through another replica applies at once.</summary>
    public static async Task<Results<Ok<TranslatePathResponse>, UnprocessableEntity<ValidationErrorResponse>>> TranslatePathAsync(
        TranslatePathRequest request, IPathTranslatorSource translators, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrorList();
        var target = PathOs.Current;
        if (request.TargetOs is not null && !PathOs.TryParseName(request.TargetOs, out target))
        {
            errors.Add("enum", "Input should be 'windows', 'linux' or 'macos'", JsonValue.Create(request.TargetOs), "body", "target_os");
        }

        if (request.Path is null)
        {
            errors.Missing(Body(request, json.Value), "body", "path");
        }

        if (errors.HasErrors)
        {
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }

        var translator = await translators.GetFreshAsync(cancellationToken);
        try
        {
            var result = translator.Translate(request.Path!, target);
            return TypedResults.Ok(new TranslatePathResponse(
                result.Original, result.Path, PathOs.Current, target, result.Mapping?.Id, result.SourceOs, translator.Problems));
        }
        catch (PathTranslationException ex)
        {
            errors.Invalid(ex.Reason, JsonValue.Create(request.Path), "body", "path");
            return TypedResults.UnprocessableEntity(errors.ToResponse());
        }
    }

    private static PathMappingValidation Validate(PathMappingRequest request) =>
        PathMappingValidator.Validate(request.Name, request.Windows, request.Linux, request.Macos);

    private static PathMapping ToMapping(string id, PathMappingValidation validation, PathMappingRequest request) =>
        new(id, validation.Name, validation.Windows, validation.Linux, validation.Macos, request.Enabled ?? true);

    private static ValidationErrorResponse ToErrors(PathMappingValidation validation, PathMappingRequest request, JsonOptions json)
    {
        var errors = new ValidationErrorList();
        foreach (var error in validation.Errors)
        {
            if (error.Type == "missing")
            {
                errors.Missing(Body(request, json), "body", error.Field);
            }
            else
            {
                errors.Invalid(error.Message, JsonValue.Create(error.Input), "body", error.Field);
            }
        }

        return errors.ToResponse();
    }

    // FastAPI reports the object a field is missing from as the error's input.
    private static JsonNode? Body<T>(T request, JsonOptions json) => JsonSerializer.SerializeToNode(request, json.SerializerOptions);

    private static NotFound<ProblemDetails> MappingNotFound(string id) =>
        TypedResults.NotFound(new ProblemDetails
        {
            Status = StatusCodes.Status404NotFound,
            Title = "Path mapping not found",
            Detail = $"Path mapping not found: {id}",
        });
}
