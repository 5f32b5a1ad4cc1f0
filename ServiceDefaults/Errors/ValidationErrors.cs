using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace DirectorsConsole.ServiceDefaults.Errors;

/// <summary>One FastAPI-style validation error: <c>{type, loc, msg, input}</c> (API doc 1).</summary>
public sealed record ValidationError(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("loc")] IReadOnlyList<object> Loc,
    [property: JsonPropertyName("msg")] string Msg,
    [property: JsonPropertyName("input")] JsonNode? Input);

/// <summary>The 422 body clients of the original parse: <c>{"detail": [ValidationError...]}</c>.</summary>
public sealed record ValidationErrorResponse([property: JsonPropertyName("detail")] IReadOnlyList<ValidationError> Detail);

/// <summary>Collects validation errors for one request, with the error types FastAPI uses.</summary>
public sealed class ValidationErrorList
{
    private readonly List<ValidationError> _errors = [];

    public bool HasErrors => _errors.Count > 0;

    public IReadOnlyList<ValidationError> Errors => _errors;

    public ValidationErrorList Add(string type, string message, JsonNode? input, params object[] location)
    {
        _errors.Add(new ValidationError(type, location, message, input?.DeepClone()));
        return this;
    }

    /// <summary>A required field that is absent; <paramref name="input"/> is the object it was missing from.</summary>
    public ValidationErrorList Missing(JsonNode? input, params object[] location) =>
        Add("missing", "Field required", input, location);

    /// <summary>A value that is present but wrong (FastAPI's <c>value_error</c>).</summary>
    public ValidationErrorList Invalid(string message, JsonNode? input, params object[] location) =>
        Add("value_error", $"Value error, {message}", input, location);

    public ValidationErrorResponse ToResponse() => new(_errors.ToArray());
}
