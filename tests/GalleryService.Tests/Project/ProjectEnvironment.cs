using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Project;

/// <summary>
/// A gallery service with its own Garnet and a temporary tree:
/// <code>
/// base/root/                      the only project root (project_roots)
///      root/Eliot/                the current project
///           project.json, Panel_01/{Eliot_Panel01_v001.png, Eliot_Panel01_v002.png, clip.mp4, take.mov, link.png → outside},
///           Panel_02/Eliot_Panel02_v003.png, escape → base/outside, .hidden/
/// base/outside/                   secret.txt (the sentinel), outside.png, project.json
/// </code>
/// </summary>
public class ProjectEnvironment : IAsyncLifetime
{
    public const string Secret = "TOP-SECRET-SENTINEL-7f3a";

    private readonly GarnetFixture _garnet = new();
    private readonly List<ServiceFactory<Program>> _factories = [];

    public string Base { get; } = Directory.CreateTempSubdirectory("dc-gallery-").FullName;

    public string Root => Path.Combine(Base, "root");

    public string ProjectFolder => Path.Combine(Root, "Eliot");

    public string Outside => Path.Combine(Base, "outside");

    public string SecretFile => Path.Combine(Outside, "secret.txt");

    public ServiceFactory<Program> Service { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public string RedisConnectionString => _garnet.ConnectionString;

    public virtual async ValueTask InitializeAsync()
    {
        await _garnet.InitializeAsync();
        Directory.CreateDirectory(Path.Combine(ProjectFolder, "Panel_01"));
        Directory.CreateDirectory(Path.Combine(ProjectFolder, "Panel_02"));
        Directory.CreateDirectory(Path.Combine(ProjectFolder, ".hidden"));
        Directory.CreateDirectory(Outside);
        File.WriteAllText(SecretFile, Secret);
        File.WriteAllBytes(Path.Combine(Outside, "outside.png"), TestPng.WithPrompt(Secret));
        File.WriteAllText(Path.Combine(Outside, "project.json"), $$"""{"saved_at":"x","secret":"{{Secret}}"}""");
        File.WriteAllText(Path.Combine(ProjectFolder, "project.json"), """{"project_settings":{"name":"Eliot"},"panels":[1,2],"saved_at":"2026-02-22T10:00:00Z"}""");
        File.WriteAllBytes(Path.Combine(ProjectFolder, "Panel_01", "Eliot_Panel01_v001.png"), TestPng.WithPrompt("{\"1\":{}}"));
        File.WriteAllBytes(Path.Combine(ProjectFolder, "Panel_01", "Eliot_Panel01_v002.png"), TestPng.WithPrompt("{\"2\":{}}"));
        File.WriteAllBytes(Path.Combine(ProjectFolder, "Panel_01", "clip.mp4"), Enumerable.Range(0, 4096).Select(i => (byte)i).ToArray());
        File.WriteAllBytes(Path.Combine(ProjectFolder, "Panel_01", "take.mov"), new byte[100]);
        File.WriteAllBytes(Path.Combine(ProjectFolder, "Panel_02", "Eliot_Panel02_v003.png"), TestPng.WithPrompt("{}"));
        File.WriteAllText(Path.Combine(ProjectFolder, ".hidden", "note.png"), "hidden");
        File.CreateSymbolicLink(Path.Combine(ProjectFolder, "Panel_01", "link.png"), Path.Combine(Outside, "outside.png"));
        Directory.CreateSymbolicLink(Path.Combine(ProjectFolder, "escape"), Outside);

        Service = CreateReplica();
        Client = Service.CreateClient();
        using var response = await Client.PostAsJsonAsync("/api/project", new { path = ProjectFolder }, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Another replica of the service on the same Redis and settings.</summary>
    public ServiceFactory<Program> CreateReplica()
    {
        var factory = new ServiceFactory<Program>(_garnet.ConnectionString, new Dictionary<string, string?> { ["project_roots"] = Root });
        _factories.Add(factory);
        return factory;
    }

    /// <summary>Every file and folder under <see cref="Outside"/> and beside <see cref="Root"/>, with size, time
    /// and content hash: equal snapshots mean nothing outside the root was created, changed, moved or deleted.</summary>
    public IReadOnlyList<string> SnapshotOutsideRoot()
    {
        var entries = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries(Base))
        {
            entries.Add("top:" + Path.GetFileName(entry));
        }

        foreach (var file in Directory.EnumerateFileSystemEntries(Outside, "*", SearchOption.AllDirectories))
        {
            var info = new FileInfo(file);
            entries.Add(Directory.Exists(file)
                ? $"dir:{file}"
                : $"file:{file}:{info.Length}:{info.LastWriteTimeUtc.Ticks}:{Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)))}");
        }

        entries.Sort(StringComparer.Ordinal);
        return entries;
    }

    public static async Task<JsonNode> ReadJsonAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;

    public virtual async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        foreach (var factory in _factories)
        {
            await factory.DisposeAsync();
        }

        await _garnet.DisposeAsync();
        try
        {
            Directory.Delete(Base, recursive: true);
        }
        catch (IOException)
        {
            // Cleaned by the OS with the rest of the temp folder.
        }

        GC.SuppressFinalize(this);
    }
}
