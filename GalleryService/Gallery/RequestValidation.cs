using System.Text.Json;
using DirectorsConsole.ServiceDefaults.Errors;
using DirectorsConsole.ServiceDefaults.Hosting;

namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>Collects the problems of one request body (or query) and throws them together as a 422 in FastAPI's form.</summary>
public sealed class RequestValidation(object? body, string location = "body")
{
    private static readonly JsonSerializerOptions Json = CreateJson();
    private readonly ValidationErrorList _errors = new();

    public static RequestValidation Query() => new(null, "query");

    public RequestValidation Required(object? value, string field)
    {
        if (value is null || value is string { Length: 0 })
        {
            _errors.Missing(body is null ? null : JsonSerializer.SerializeToNode(body, body.GetType(), Json), location, field);
        }

        return this;
    }

    /// <summary>Adds a <c>value_error</c> for <paramref name="field"/> when <paramref name="isValid"/> is false.</summary>
    public RequestValidation Check(bool isValid, string field, string message, object? input)
    {
        if (!isValid)
        {
            _errors.Invalid(message, input is null ? null : JsonSerializer.SerializeToNode(input, input.GetType(), Json), location, field);
        }

        return this;
    }

    public RequestValidation OneOf(string? value, string field, params string[] allowed) =>
        Check(value is null || allowed.Contains(value), field, $"Input should be {string.Join(", ", allowed.Select(a => $"'{a}'"))}", value);

    public void ThrowIfInvalid()
    {
        if (_errors.HasErrors)
        {
            throw new GalleryValidationException(_errors);
        }
    }

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        ApiJson.Apply(options, JsonNamingPolicy.CamelCase);
        return options;
    }
}
