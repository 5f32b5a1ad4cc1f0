using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.GalleryService.Tests.Gallery;

/// <summary>A gallery service on its own Garnet with one project root (<c>project_roots</c>) in a temporary
/// folder. Each test makes its own project below the root with <see cref="NewProject"/>.</summary>
public sealed class GalleryFixture : IAsyncLifetime
{
    private readonly GarnetFixture _garnet = new();

    public string Root { get; } = Directory.CreateTempSubdirectory("dc-gallery-tests-").FullName;

    public string Outside { get; } = Directory.CreateTempSubdirectory("dc-gallery-outside-").FullName;

    public ServiceFactory<Program> Service { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public string RedisConnectionString => _garnet.ConnectionString;

    public IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?> { ["project_roots"] = Root };

    public async ValueTask InitializeAsync()
    {
        await _garnet.InitializeAsync();
        Service = new ServiceFactory<Program>(_garnet.ConnectionString, Settings);
        Client = Service.CreateClient();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Service.DisposeAsync();
        await _garnet.DisposeAsync();
        Directory.Delete(Root, recursive: true);
        Directory.Delete(Outside, recursive: true);
    }

    /// <summary>A fresh project: Panel_01 (two PNGs with prompts, a JPEG, a video, a sidecar), Panel_02 (one PNG).</summary>
    public TestProject NewProject()
    {
        var folder = Path.Combine(Root, "P" + Guid.NewGuid().ToString("N")[..8]);
        var project = new TestProject(folder);
        project.Write("Panel_01/shot_a.png", TestPng.WithPrompt("""{"3":{"inputs":{"text":"a cinematic shot of a lighthouse"},"class_type":"CLIPTextEncode"}}"""));
        project.Write("Panel_01/shot_a.json", """{"seed": 1}"""u8.ToArray());
        project.Write("Panel_01/shot_b.png", TestPng.Create([TestPng.Text("parameters", "portrait of a fox\nNegative prompt: blurry, low quality\nSteps: 20")]));
        project.Write("Panel_01/still.jpg", TestImages.Jpeg(640, 360));
        project.Write("Panel_01/clip.mp4", new byte[2048]);
        project.Write("Panel_02/shot_c.png", TestPng.WithPrompt("""{"1":{"inputs":{"text":"desert at dawn"}}}"""));
        return project;
    }
}

public sealed class TestProject(string folder)
{
    public string Folder { get; } = folder;

    public string PathOf(string relative) => Path.Combine(Folder, relative.Replace('/', Path.DirectorySeparatorChar));

    public string GalleryFile => PathOf(".gallery/gallery.json");

    public void Write(string relative, byte[] content)
    {
        var path = PathOf(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
    }

    public bool Exists(string relative) => File.Exists(PathOf(relative));

    public JsonNode GalleryJson() => JsonNode.Parse(File.ReadAllText(GalleryFile))!;
}

/// <summary>The answer of one request: status and parsed body.</summary>
public sealed record ApiAnswer(HttpStatusCode Status, JsonNode? Body)
{
    public JsonNode this[string name] => Body![name]!;

    public string? Detail => Body?["detail"] is JsonValue value ? (string?)value : Body?["detail"]?.ToJsonString();
}

public static class GalleryClient
{
    public static async Task<ApiAnswer> GalleryPostAsync(this HttpClient client, string route, object body)
    {
        using var response = await client.PostAsJsonAsync("/api/gallery/" + route, body, TestContext.Current.CancellationToken);
        return await ReadAsync(response);
    }

    public static async Task<ApiAnswer> GalleryGetAsync(this HttpClient client, string routeAndQuery)
    {
        using var response = await client.GetAsync("/api/gallery/" + routeAndQuery, TestContext.Current.CancellationToken);
        return await ReadAsync(response);
    }

    public static async Task<ApiAnswer> GalleryDeleteAsync(this HttpClient client, string route, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, "/api/gallery/" + route) { Content = JsonContent.Create(body) };
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        return await ReadAsync(response);
    }

    public static async Task<ApiAnswer> RateAsync(this HttpClient client, TestProject project, string file, int rating) =>
        await client.GalleryPostAsync("ratings", new { projectPath = project.Folder, filePath = file, rating });

    /// <summary>Creates a tag and gives its id (an integer on the wire, as the original).</summary>
    public static async Task<int> CreateTagAsync(this HttpClient client, TestProject project, string name, string? color = null)
    {
        var answer = await client.GalleryPostAsync("tags", new { projectPath = project.Folder, name, color });
        Assert.Equal(HttpStatusCode.Created, answer.Status);
        return (int)answer["tag"]["id"]!;
    }

    /// <summary>The ids of a list of tag objects (<c>{id, name, color}</c>).</summary>
    public static IEnumerable<int> TagIdsOf(JsonNode tags) => tags.AsArray().Select(tag => (int)tag!["id"]!);

    /// <summary>One tag of a tag list, by id.</summary>
    public static JsonNode TagById(JsonNode tags, int id) => tags.AsArray().Single(tag => (int)tag!["id"]! == id)!;

    public static string Q(string value) => Uri.EscapeDataString(value);

    private static async Task<ApiAnswer> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return new ApiAnswer(response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }
}
