using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace DirectorsConsole.ServiceDefaults.Errors;

/// <summary>
/// Endpoint metadata for routes whose original clients read <c>success</c> and <c>message</c> in every reply, errors
/// included (the original server answered most failures there as 200 with <c>success: false</c>). Error bodies of such
/// routes keep their real status and <c>detail</c> and also carry <c>success: false</c> and <c>message</c> (the
/// detail's text), so those clients show the reason instead of "undefined".
/// </summary>
public sealed class SuccessFlagErrors
{
    public const string SuccessField = "success";
    public const string MessageField = "message";

    private static readonly SuccessFlagErrors Instance = new();

    private SuccessFlagErrors()
    {
    }

    /// <summary>Marks every endpoint of <paramref name="builder"/> as answering errors with <c>success</c> and <c>message</c>.</summary>
    public static TBuilder On<TBuilder>(TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(Instance);

    /// <summary>True when the request went to a marked endpoint; also while an exception handler answers it (the
    /// exception middleware clears the endpoint, its feature keeps it).</summary>
    public static bool AppliesTo(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        var endpoint = httpContext.GetEndpoint() ?? httpContext.Features.Get<IExceptionHandlerFeature>()?.Endpoint;
        return endpoint?.Metadata.GetMetadata<SuccessFlagErrors>() is not null;
    }

    /// <summary>Adds the two fields to a problem body when the request went to a marked endpoint.</summary>
    public static void Decorate(HttpContext httpContext, ProblemDetails problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        if (AppliesTo(httpContext))
        {
            problem.Extensions[SuccessField] = false;
            problem.Extensions[MessageField] = problem.Detail ?? problem.Title ?? "The request failed.";
        }
    }

    /// <summary>The 422 list form as written for this request: as is, or with <c>success: false</c> and a
    /// <c>message</c> joining the errors' texts for a marked endpoint.</summary>
    public static object Body(HttpContext httpContext, ValidationErrorResponse errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (!AppliesTo(httpContext))
        {
            return errors;
        }

        var body = new JsonObject
        {
            ["detail"] = JsonSerializer.SerializeToNode(errors.Detail),
            [SuccessField] = false,
            [MessageField] = string.Join("; ", errors.Detail.Select(error => $"{string.Join('.', error.Loc.Skip(1))}: {error.Msg}")),
        };
        return body;
    }
}

public static class SuccessFlagErrorsExtensions
{
    /// <summary>Error bodies of these endpoints also carry <c>success: false</c> and <c>message</c> (see
    /// <see cref="SuccessFlagErrors"/>).</summary>
    public static TBuilder WithSuccessFlagErrors<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        SuccessFlagErrors.On(builder);
}
