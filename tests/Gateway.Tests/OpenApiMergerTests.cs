using System.Text.Json.Nodes;
using DirectorsConsole.Gateway.OpenApi;

namespace DirectorsConsole.Gateway.Tests;

public sealed class OpenApiMergerTests
{
    [Fact]
    public void SchemaReferringToARenamedSchemaIsRenamedToo()
    {
        // Arrange: Page is written the same in both documents but refers to Item, which differs.
        var jobs = Document("/api/jobs", ("Item", Object("job_id")), ("Page", PageOf("Item")));
        var backends = Document("/api/backends", ("Item", Object("backend_id")), ("Page", PageOf("Item")));

        // Act
        var merged = OpenApiMerger.Merge([Source("job-service", jobs), Source("backend-service", backends)], "1.2.3").Document;

        // Assert
        var schemas = merged["components"]!["schemas"]!.AsObject();
        Assert.Equal(["Item", "Page", "backend-service_Item", "backend-service_Page"], schemas.Select(s => s.Key).Order(StringComparer.Ordinal));
        Assert.Equal("#/components/schemas/backend-service_Item", (string?)schemas["backend-service_Page"]!["properties"]!["items"]!["items"]!["$ref"]);
        Assert.Equal("#/components/schemas/backend-service_Page", (string?)merged["paths"]!["/api/backends"]!["get"]!["responses"]!["200"]!["$ref"]);
        Assert.Equal("#/components/schemas/Page", (string?)merged["paths"]!["/api/jobs"]!["get"]!["responses"]!["200"]!["$ref"]);
        Assert.Equal("1.2.3", (string?)merged["info"]!["version"]);
    }

    [Fact]
    public void IdenticalSchemasAndTagsAreShared()
    {
        // Arrange
        var jobs = Document("/api/jobs", ("Page", PageOf("Item")), ("Item", Object("id")));
        var paths = Document("/api/path-mappings", ("Page", PageOf("Item")), ("Item", Object("id")));

        // Act
        var merged = OpenApiMerger.Merge([Source("job-service", jobs), Source("path-service", paths)], "1.0.0").Document;

        // Assert
        Assert.Equal(2, merged["components"]!["schemas"]!.AsObject().Count);
        Assert.Equal(["shared"], merged["tags"]!.AsArray().Select(tag => (string?)tag!["name"]));
        Assert.Equal(2, merged["paths"]!.AsObject().Count);
    }

    [Fact]
    public void PathsTheGatewayRoutesElsewhereAreLeftOut()
    {
        // Arrange: gallery-service describing a job path must not claim it.
        var gallery = Document("/api/jobs", ("Page", PageOf("Item")));

        // Act
        var merged = OpenApiMerger.Merge([Source("gallery-service", gallery)], "1.0.0");

        // Assert
        Assert.Empty(merged.Document["paths"]!.AsObject());
        Assert.Equal(["gallery-service /api/jobs"], merged.SkippedPaths);
    }

    [Fact]
    public void UnavailableServiceIsNamedInTheDescription()
    {
        // Act
        var merged = OpenApiMerger.Merge(
            [Source("job-service", Document("/api/jobs")), new OpenApiSource("path-service", null, "no live instance")],
            "1.0.0").Document;

        // Assert
        Assert.Contains("path-service (no live instance)", (string?)merged["info"]!["description"]);
        Assert.Equal("3.0.1", (string?)merged["openapi"]);
    }

    private static OpenApiSource Source(string name, JsonObject document) => new(name, document, null);

    private static JsonObject Document(string path, params (string Name, JsonObject Schema)[] schemas)
    {
        var components = new JsonObject();
        foreach (var (name, schema) in schemas)
        {
            components[name] = schema;
        }

        return new JsonObject
        {
            ["openapi"] = "3.0.1",
            ["paths"] = new JsonObject
            {
                [path] = new JsonObject { ["get"] = new JsonObject { ["responses"] = new JsonObject { ["200"] = new JsonObject { ["$ref"] = "#/components/schemas/Page" } } } },
            },
            ["components"] = new JsonObject { ["schemas"] = components },
            ["tags"] = new JsonArray(new JsonObject { ["name"] = "shared" }),
        };
    }

    private static JsonObject Object(string property) => new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject { [property] = new JsonObject { ["type"] = "string" } },
    };

    private static JsonObject PageOf(string schema) => new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject
        {
            ["items"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["$ref"] = $"#/components/schemas/{schema}" } },
        },
    };
}
