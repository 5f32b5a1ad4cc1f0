using System.Text.Json.Nodes;

namespace DirectorsConsole.GalleryService.Tests.Gallery;

public sealed class GalleryOpenApiTests(GalleryFixture gallery) : IClassFixture<GalleryFixture>
{
    [Fact]
    public async Task AllTwentyThreeGalleryRoutesAreInTheOpenApiDocument()
    {
        // Act
        var document = JsonNode.Parse(await gallery.Client.GetStringAsync("/openapi/v1.json", TestContext.Current.CancellationToken))!;

        // Assert
        var operations = document["paths"]!.AsObject()
            .Where(path => path.Key.StartsWith("/api/gallery/", StringComparison.Ordinal))
            .SelectMany(path => path.Value!.AsObject().Select(operation => (Path: path.Key, Method: operation.Key, Body: operation.Value!)))
            .ToList();
        Assert.Equal(23, operations.Count);
        Assert.All(operations, operation =>
        {
            Assert.Equal("Gallery", (string?)operation.Body["tags"]![0]);
            Assert.False(string.IsNullOrEmpty((string?)operation.Body["summary"]), $"{operation.Method} {operation.Path} has no summary");
            Assert.NotNull(operation.Body["responses"]!["422"]);
        });
    }

    [Fact]
    public async Task TheSchemasShowTheSnakeCaseNamesTheServiceWrites()
    {
        // Act
        var document = JsonNode.Parse(await gallery.Client.GetStringAsync("/openapi/v1.json", TestContext.Current.CancellationToken))!;

        // Assert
        var schemas = document["components"]!["schemas"]!;
        Assert.Equal(["name", "path", "rel_path", "subfolders", "file_count"], schemas["TreeFolderEntry"]!["properties"]!.AsObject().Select(p => p.Key));
        Assert.Contains("project_path", schemas["ScanFolderRequest"]!["properties"]!.AsObject().Select(p => p.Key));
        Assert.Contains("png_metadata", schemas["FileInfoResponse"]!["properties"]!.AsObject().Select(p => p.Key));
    }
}
