using System.Net;
using System.Text;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Project;

public sealed class HostilePathEnvironment : ProjectEnvironment
{
    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        File.CreateSymbolicLink(Path.Combine(ProjectFolder, "loop"), Path.Combine(ProjectFolder, "loop"));
    }
}

/// <summary>
/// Every path field of the project endpoints, fed traversal, encoded traversal, links out, other absolute paths,
/// Windows forms, NUL, over-long and reserved names: each is refused with 403 or 422 and a <c>detail</c>, the
/// answer never holds the sentinel's content, and nothing outside the root changes.
/// </summary>
public sealed class HostilePathTests(HostilePathEnvironment environment) : IClassFixture<HostilePathEnvironment>
{
    private const string Png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

    private static readonly string LongName = new('a', 300);
    private static readonly string LongPath = "/" + string.Join('/', Enumerable.Repeat("abcdefghij", 460));

    public static TheoryData<string, string, string?, int> Cases => new()
    {
        // The current project
        { "POST", "/api/project", """{"path":"{project}/../../outside"}""", 403 },
        { "POST", "/api/project", """{"path":"{outside}"}""", 403 },
        { "POST", "/api/project", """{"project":{"path":"{project}/escape"}}""", 403 },
        { "POST", "/api/project", """{"path":"/"}""", 403 },
        // save-project / load-project / list-projects
        { "POST", "/api/save-project", """{"folderPath":"{outside}","state":{}}""", 403 },
        { "POST", "/api/save-project", """{"folderPath":"{project}","filename":"../x.json","state":{}}""", 422 },
        { "POST", "/api/save-project", """{"folderPath":"{project}/escape","state":{}}""", 403 },
        { "POST", "/api/save-project", """{"folder_path":"{project}/%2e%2e/%2e%2e/outside","state":{}}""", 403 },
        { "POST", "/api/save-project", """{"folderPath":"{project}","filename":"CON.json","state":{}}""", 422 },
        { "POST", "/api/load-project", """{"filePath":"{outside}/project.json"}""", 403 },
        { "POST", "/api/load-project", """{"file_path":"{project}/escape/project.json"}""", 403 },
        { "POST", "/api/load-project", """{"filePath":"../../outside/project.json"}""", 403 },
        { "GET", "/api/list-projects?folderPath={outside}", null, 403 },
        { "GET", "/api/list-projects?folder_path={project}/escape", null, 403 },
        // Scans
        { "POST", "/api/scan-project-images", """{"path":"{project}/../.."}""", 403 },
        { "POST", "/api/scan-project-images", """{"folder_path":"/etc"}""", 403 },
        { "POST", "/api/scan-project-panels", """{"project_path":"{project}/escape"}""", 403 },
        { "POST", "/api/scan-folder-images", """{"folderPath":"{project}/%252e%252e/%252e%252e/outside"}""", 403 },
        { "POST", "/api/scan-folder-images", """{"folderPath":"../../../../../../../../../../../../etc"}""", 403 },
        { "POST", "/api/scan-folder-images", """{"folderPath":"{project}/Panel_01\u0000/../../../outside"}""", 422 },
        { "GET", "/api/scan-versions?folderPath={outside}", null, 403 },
        { "POST", "/api/scan-versions", """{"folder_path":"{project}/../../outside"}""", 403 },
        { "GET", "/api/scan-versions?folderPath={project}&os=plan9", null, 422 },
        // serve-image
        { "GET", "/api/serve-image?path={outside}/outside.png", null, 403 },
        { "GET", "/api/serve-image?path={project}/Panel_01/link.png", null, 403 },
        { "GET", "/api/serve-image?path={project}/escape/outside.png", null, 403 },
        { "GET", "/api/serve-image?path={project}/..%2f..%2foutside%2fsecret.txt", null, 403 },
        { "GET", "/api/serve-image?path={project}/%252e%252e%252f%252e%252e%252foutside%252fsecret.txt", null, 403 },
        { "GET", "/api/serve-image?path=C:%5CWindows%5Cwin.ini", null, 403 },
        { "GET", "/api/serve-image?path=%5C%5Cserver%5Cshare%5Csecret.png", null, 403 },
        { "GET", "/api/serve-image?path=//server/share/secret.png", null, 403 },
        { "GET", "/api/serve-image?path=%5C%5C%3F%5CC:%5CWindows%5Cwin.ini", null, 403 },
        { "GET", "/api/serve-image?path={project}/Panel_01/a%00b.png", null, 422 },
        { "GET", $"/api/serve-image?path={{project}}/{LongName}.png", null, 422 },
        { "GET", $"/api/serve-image?path={LongPath}", null, 422 },
        { "GET", "/api/serve-image?path={project}/CON/x.png", null, 403 },
        { "GET", "/api/serve-image?path={project}/Panel_01/nul.png", null, 403 },
        { "GET", "/api/serve-image?path=/etc/passwd", null, 403 },
        { "GET", "/api/serve-image?path={project}/loop/x.png", null, 403 },
        { "GET", "/api/serve-image?path=", null, 422 },
        // delete-image
        { "DELETE", "/api/delete-image", """{"imagePath":"{project}/Panel_01/link.png"}""", 403 },
        { "DELETE", "/api/delete-image", """{"image_path":"{outside}/outside.png"}""", 403 },
        { "DELETE", "/api/delete-image?path={project}/../../outside/outside.png", null, 403 },
        // create-folder
        { "POST", "/api/create-folder", """{"parentPath":"{outside}","folderName":"x"}""", 403 },
        { "POST", "/api/create-folder", """{"parentPath":"{project}","folderName":".."}""", 422 },
        { "POST", "/api/create-folder", """{"parent_path":"{project}","folder_name":"a/b"}""", 422 },
        { "POST", "/api/create-folder", """{"parentPath":"{project}","folderName":"..\\..\\outside"}""", 422 },
        { "POST", "/api/create-folder", """{"parentPath":"{project}","folderName":"CON"}""", 422 },
        { "POST", "/api/create-folder", """{"parentPath":"{project}","folderName":"bad."}""", 422 },
        { "POST", "/api/create-folder", """{"parentPath":"{project}","folderName":"x\u0001y"}""", 422 },
        { "POST", "/api/create-folder", """{"parentPath":"{project}/escape","folderName":"new"}""", 403 },
        // browse-folders / png-metadata
        { "GET", "/api/browse-folders?path={base}", null, 403 },
        { "GET", "/api/browse-folders?path={project}/escape", null, 403 },
        { "GET", "/api/png-metadata?path={outside}/outside.png", null, 403 },
        { "GET", "/api/png-metadata?path={project}/Panel_01/link.png", null, 403 },
        // save-image / save-base64-image
        { "POST", "/api/save-base64-image", $$"""{"dataUrl":"{{Png}}","folderPath":"{project}","filename":"../../outside/evil.png"}""", 422 },
        { "POST", "/api/save-base64-image", $$"""{"dataUrl":"{{Png}}","folderPath":"{project}","filename":"escape/evil.png"}""", 403 },
        { "POST", "/api/save-base64-image", $$"""{"data_url":"{{Png}}","folder_path":"{outside}","filename":"evil.png"}""", 403 },
        { "POST", "/api/save-base64-image", $$"""{"dataUrl":"{{Png}}","folderPath":"{project}","filename":"NUL.png"}""", 422 },
        { "POST", "/api/save-base64-image", $$"""{"dataUrl":"{{Png}}","folderPath":"{project}","filename":"evil.png "}""", 422 },
        { "POST", "/api/save-image", """{"imageUrl":"http://169.254.169.254/latest/meta-data/","folderPath":"{project}","filename":"x.png"}""", 403 },
        { "POST", "/api/save-image", """{"imageUrl":"http://example.com/view?filename=x.png","folderPath":"{project}","filename":"x.png"}""", 403 },
        { "POST", "/api/save-image", """{"image_url":"file:///etc/passwd","folder_path":"{project}","filename":"x.png"}""", 403 },
        { "POST", "/api/save-image", """{"imageUrl":"http://127.0.0.1:1/api/backends/nope/view?filename=x.png","folderPath":"{project}","filename":"x.png"}""", 403 },
        { "POST", "/api/save-image", $$"""{"imageUrl":"{{Png}}","folderPath":"{project}","filename":"a\\..\\..\\x.png"}""", 422 },
        { "POST", "/api/save-image", $$"""{"imageUrl":"{{Png}}","folderPath":"C:\\Windows","filename":"x.png"}""", 403 },
        // Missing folders are created only inside the roots: never below a link out, a loop or an outside folder.
        { "POST", "/api/save-base64-image", $$"""{"data_url":"{{Png}}","folder_path":"{project}/escape/NewPanel","filename":"evil.png"}""", 403 },
        { "POST", "/api/save-base64-image", $$"""{"data_url":"{{Png}}","folder_path":"{outside}/NewPanel/Deeper","filename":"evil.png"}""", 403 },
        { "POST", "/api/save-image", $$"""{"image_url":"{{Png}}","folder_path":"{project}/loop/NewPanel","filename":"evil.png"}""", 403 },
        { "POST", "/api/save-project", """{"folder_path":"{project}/escape/NewFilm","state":{}}""", 403 },
        { "POST", "/api/save-project", """{"folder_path":"{base}/NewFilm","state":{}}""", 403 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task HostilePathIsRefusedAndNothingOutsideTheRootChanges(string method, string url, string? body, int expectedStatus)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        var before = environment.SnapshotOutsideRoot();
        using var request = new HttpRequestMessage(new HttpMethod(method), Expand(url));
        if (body is not null)
        {
            request.Content = new StringContent(Expand(body), Encoding.UTF8, "application/json");
        }

        // Act
        using var response = await environment.Client.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);

        // Assert
        Assert.Equal((HttpStatusCode)expectedStatus, response.StatusCode);
        var detail = ProjectEnvironmentJson.Parse(text)["detail"];
        if (expectedStatus == 422)
        {
            // Request validation: FastAPI's list, located in the query for GET and in the body for POST.
            var error = Assert.Single(Assert.IsType<System.Text.Json.Nodes.JsonArray>(detail));
            Assert.Equal("value_error", (string?)error!["type"]);
            Assert.Equal(method == "GET" ? "query" : "body", (string?)error["loc"]![0]);
            Assert.True(error["loc"]!.AsArray().Count >= 2, $"No field in loc: {text}");
            Assert.False(string.IsNullOrWhiteSpace((string?)error["msg"]), $"No msg in {text}");
        }
        else
        {
            Assert.False(string.IsNullOrWhiteSpace((string?)detail), $"No detail in {text}");
        }

        Assert.DoesNotContain(ProjectEnvironment.Secret, text, StringComparison.Ordinal);
        Assert.Equal(before, environment.SnapshotOutsideRoot());
        Assert.Empty(Directory.GetFiles(environment.Root, "*.tmp", SearchOption.AllDirectories));
        Assert.False(File.Exists(Path.Combine(environment.ProjectFolder, "x.png")));
    }

    [Fact]
    public async Task InvalidPathsAreValidationErrorsNamingWhereTheFieldWasAndWhatWasSent()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        var nulPath = environment.ProjectFolder + "/Panel_01/a\0b.png";

        // Act
        using var fromQuery = await environment.Client.GetAsync("/api/serve-image?path=" + Uri.EscapeDataString(environment.ProjectFolder) + "/Panel_01/a%00b.png", ct);
        using var fromBody = await environment.Client.PostAsync("/api/create-folder", new StringContent(
            Expand("""{"parentPath":"{project}","folderName":"CON"}"""), Encoding.UTF8, "application/json"), ct);
        using var nested = await environment.Client.PostAsync("/api/project", new StringContent(
            """{"project":{"path":"/tmp/a\u0001b"}}""", Encoding.UTF8, "application/json"), ct);
        using var header = new HttpRequestMessage(HttpMethod.Get, "/api/browse-folders");
        header.Headers.Add("X-Client-OS", "plan9");
        using var fromHeader = await environment.Client.SendAsync(header, ct);
        using var forbidden = await environment.Client.GetAsync("/api/serve-image?path=" + Uri.EscapeDataString(environment.SecretFile), ct);

        // Assert
        var query = await ValidationErrorAsync(fromQuery, ct);
        Assert.Equal(["query", "path"], query["loc"]!.AsArray().Select(segment => (string?)segment));
        Assert.Equal(nulPath, (string?)query["input"]);
        Assert.Contains("NUL", (string?)query["msg"], StringComparison.Ordinal);
        var body = await ValidationErrorAsync(fromBody, ct);
        Assert.Equal(["body", "folderName"], body["loc"]!.AsArray().Select(segment => (string?)segment));
        Assert.Equal("CON", (string?)body["input"]);
        Assert.Contains("device name", (string?)body["msg"], StringComparison.Ordinal);
        var inner = await ValidationErrorAsync(nested, ct);
        Assert.Equal(["body", "project", "path"], inner["loc"]!.AsArray().Select(segment => (string?)segment));
        Assert.Equal("/tmp/a\u0001b", (string?)inner["input"]);
        var os = await ValidationErrorAsync(fromHeader, ct);
        Assert.Equal(["header", "X-Client-OS"], os["loc"]!.AsArray().Select(segment => (string?)segment));
        Assert.Equal("plan9", (string?)os["input"]);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        var problem = ProjectEnvironmentJson.Parse(await forbidden.Content.ReadAsStringAsync(ct));
        Assert.Contains("outside the allowed roots", (string?)problem["detail"], StringComparison.Ordinal);
        Assert.Equal("path", (string?)problem["field"]);
        Assert.Equal(403, (int?)problem["status"]);
    }

    [Fact]
    public async Task EveryCaseLeftTheOutsideTreeAsPlanted()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;

        // Act
        var secret = await File.ReadAllTextAsync(environment.SecretFile, ct);

        // Assert
        Assert.Equal(ProjectEnvironment.Secret, secret);
        Assert.Equal(["outside.png", "project.json", "secret.txt"], Directory.GetFiles(environment.Outside).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["outside", "root"], Directory.GetFileSystemEntries(environment.Base).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    private static async Task<System.Text.Json.Nodes.JsonNode> ValidationErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = Assert.Single(ProjectEnvironmentJson.Parse(await response.Content.ReadAsStringAsync(ct))["detail"]!.AsArray())!;
        Assert.Equal("value_error", (string?)error["type"]);
        return error;
    }

    private string Expand(string text) => text
        .Replace("{project}", environment.ProjectFolder, StringComparison.Ordinal)
        .Replace("{outside}", environment.Outside, StringComparison.Ordinal)
        .Replace("{base}", environment.Base, StringComparison.Ordinal);
}

internal static class ProjectEnvironmentJson
{
    public static System.Text.Json.Nodes.JsonNode Parse(string text) => System.Text.Json.Nodes.JsonNode.Parse(text)!;
}
