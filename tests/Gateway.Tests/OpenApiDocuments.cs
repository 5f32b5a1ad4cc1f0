using System.Text.Json.Nodes;

namespace DirectorsConsole.Gateway.Tests;

/// <summary>
/// Small OpenAPI 3.0 documents like Swashbuckle writes them. Every service has a schema <c>Item</c> of its
/// own shape (a clash the merge must resolve), the same <c>Problem</c> schema (which must be shared), one
/// path the gateway routes to it and one internal path it does not.
/// </summary>
public static class OpenApiDocuments
{
    public static readonly IReadOnlyDictionary<string, string> RoutedPath = new Dictionary<string, string>
    {
        ["job-service"] = "/api/jobs",
        ["backend-service"] = "/api/backends",
        ["gallery-service"] = "/api/gallery/search",
        ["path-service"] = "/api/path-mappings",
    };

    public const string InternalPath = "/internal/state";

    public static JsonObject For(string service) => new()
    {
        ["openapi"] = "3.0.1",
        ["info"] = new JsonObject { ["title"] = service, ["version"] = "1.0.0" },
        ["paths"] = new JsonObject
        {
            [RoutedPath[service]] = new JsonObject
            {
                ["get"] = new JsonObject
                {
                    ["tags"] = new JsonArray(service),
                    ["operationId"] = $"List-{service}",
                    ["responses"] = new JsonObject
                    {
                        ["200"] = Response("Item"),
                        ["404"] = Response("Problem"),
                    },
                },
            },
            [InternalPath] = new JsonObject { ["get"] = new JsonObject { ["responses"] = new JsonObject { ["200"] = new JsonObject { ["description"] = "OK" } } } },
        },
        ["components"] = new JsonObject
        {
            ["schemas"] = new JsonObject
            {
                ["Item"] = new JsonObject
                {
                    ["type"] = "object",
                    ["properties"] = new JsonObject { [$"{service.Split('-')[0]}_id"] = new JsonObject { ["type"] = "string" } },
                },
                ["Problem"] = new JsonObject
                {
                    ["type"] = "object",
                    ["properties"] = new JsonObject { ["detail"] = new JsonObject { ["type"] = "string" } },
                },
            },
        },
        ["tags"] = new JsonArray(new JsonObject { ["name"] = service }),
    };

    private static JsonObject Response(string schema) => new()
    {
        ["description"] = schema,
        ["content"] = new JsonObject
        {
            ["application/json"] = new JsonObject { ["schema"] = new JsonObject { ["$ref"] = $"#/components/schemas/{schema}" } },
        },
    };
}
