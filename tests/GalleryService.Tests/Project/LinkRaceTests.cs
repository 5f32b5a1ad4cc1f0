using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Project;

/// <summary>
/// Inside the current project, links that a thread keeps swapping between a target inside the root and one outside
/// it (the outside files carry <see cref="Marker"/> and a size no inside file has):
/// <code>
/// Eliot/race/flip.png  → race/inside.png  |  outside/race-out/shot.png
/// Eliot/race/flip.json → race/inside.json |  outside/race-out/project.json
/// Eliot/flipdir        → Eliot/race-real/ |  outside/race-out/
/// </code>
/// </summary>
public sealed class LinkRaceEnvironment : ProjectEnvironment
{
    public const string Marker = "OUTSIDE-RACE-MARKER-5b1e9c";

    public string RaceFolder => Path.Combine(ProjectFolder, "race");

    public string RealFolder => Path.Combine(ProjectFolder, "race-real");

    public string OutsideFolder => Path.Combine(Outside, "race-out");

    public static byte[] InsidePng { get; } = TestPng.WithPrompt("inside");

    /// <summary>The outside PNG's size: an answer holding it as a number described the outside file.</summary>
    public long OutsideSize { get; private set; }

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        Directory.CreateDirectory(RaceFolder);
        Directory.CreateDirectory(RealFolder);
        Directory.CreateDirectory(OutsideFolder);
        var outsidePng = TestPng.WithPrompt(Marker + new string('x', 48_271));
        OutsideSize = outsidePng.Length;
        var insideProject = """{"saved_at":"inside","panels":[]}""";
        var outsideProject = $$"""{"saved_at":"outside","marker":"{{Marker}}"}""";
        File.WriteAllBytes(Path.Combine(RaceFolder, "inside.png"), InsidePng);
        File.WriteAllText(Path.Combine(RaceFolder, "inside.json"), insideProject);
        File.WriteAllBytes(Path.Combine(RealFolder, "shot.png"), InsidePng);
        File.WriteAllText(Path.Combine(RealFolder, "project.json"), insideProject);
        File.WriteAllBytes(Path.Combine(OutsideFolder, "shot.png"), outsidePng);
        File.WriteAllText(Path.Combine(OutsideFolder, "project.json"), outsideProject);
        File.CreateSymbolicLink(Path.Combine(RaceFolder, "flip.png"), Path.Combine(RaceFolder, "inside.png"));
        File.CreateSymbolicLink(Path.Combine(RaceFolder, "flip.json"), Path.Combine(RaceFolder, "inside.json"));
        Directory.CreateSymbolicLink(Path.Combine(ProjectFolder, "flipdir"), RealFolder);
    }
}

/// <summary>10,000 requests load the machine: the race runs alone, after the other classes, so their lock waits
/// are not starved.</summary>
[CollectionDefinition(nameof(LinkRaceCollection), DisableParallelization = true)]
public sealed class LinkRaceCollection;

/// <summary>
/// A thread swaps links between inside and outside targets (both by delete-and-create, which leaves a moment with
/// no name, and by an atomic rename over the link) while 10,000 requests run over every endpoint that reads, stats,
/// serves or writes a file. Measured: no answer carries the outside files' marker or size, nothing outside the root
/// is created or changed, and no request is a 500; a race is a 403, 404 or 409.
/// </summary>
[Collection(nameof(LinkRaceCollection))]
public sealed partial class LinkRaceTests(LinkRaceEnvironment environment) : IClassFixture<LinkRaceEnvironment>
{
    private const int Requests = 10_000;
    private const int Concurrency = 48;
    private const string PngDataUrl = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

    [Fact]
    public async Task SwappingLinksNeverLetsARequestReadOrWriteOutsideTheRoot()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        var before = environment.SnapshotOutsideRoot();
        using var stopFlipping = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var flipper = Task.Run(() => FlipLinks(stopFlipping.Token), ct);
        var statuses = new ConcurrentDictionary<string, int>();
        var leaks = new ConcurrentQueue<string>();
        var serverErrors = new ConcurrentQueue<string>();

        // Act
        await Parallel.ForEachAsync(Enumerable.Range(0, Requests), new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = ct },
            async (i, token) =>
            {
                var (name, request) = Build(i);
                using (request)
                {
                    using var response = await environment.Client.SendAsync(request, token);
                    var body = await response.Content.ReadAsByteArrayAsync(token);
                    statuses.AddOrUpdate($"{name} {(int)response.StatusCode}", 1, (_, n) => n + 1);
                    // A 503 with Retry-After is the shared store being slow on a loaded machine, not this code failing.
                    if ((int)response.StatusCode >= 500 && !(response.StatusCode == HttpStatusCode.ServiceUnavailable && response.Headers.RetryAfter is not null))
                    {
                        serverErrors.Enqueue($"{name} {(int)response.StatusCode}: {Encoding.UTF8.GetString(body)}");
                    }

                    if (CarriesOutsideFile(response, body))
                    {
                        leaks.Enqueue($"{name} {(int)response.StatusCode}: {Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 300)))}");
                    }
                }
            });
        await stopFlipping.CancelAsync();
        var flips = await flipper;

        // Assert
        foreach (var (key, count) in statuses.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{key}: {count}");
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"link swaps: {flips}");
        foreach (var problem in leaks.Concat(serverErrors).Take(20))
        {
            TestContext.Current.TestOutputHelper?.WriteLine(problem);
        }

        Assert.True(flips > 100, $"the links were swapped only {flips} times");
        Assert.Empty(leaks);
        Assert.Empty(serverErrors);
        Assert.Equal(before, environment.SnapshotOutsideRoot());
        // The race was real: inside content was served as well as refused.
        Assert.Contains(statuses, s => s.Key.StartsWith("serve-image 200", StringComparison.Ordinal));
        Assert.Contains(statuses, s => s.Key.StartsWith("save-image 201", StringComparison.Ordinal));
    }

    private (string Name, HttpRequestMessage Request) Build(int i)
    {
        var project = environment.ProjectFolder;
        var file = i % 2 == 0 ? "race/flip.png" : "flipdir/shot.png";
        var full = Path.Combine(project, file);
        var projectFile = Path.Combine(project, i % 2 == 0 ? "race/flip.json" : "flipdir/project.json");
        // Renames and trash hold the project's gallery lock, so they are a small share: they run one at a time.
        if (i % 50 is 0 or 25)
        {
            return i % 50 == 0
                ? ("rename-file", Post("/api/gallery/rename-file", new { projectPath = project, filePath = file, newName = $"renamed{i}.png" }))
                : ("trash", Post("/api/gallery/trash", new { projectPath = project, files = new[] { file } }));
        }

        return (i % 12) switch
        {
            0 => ("file-info", Post("/api/gallery/file-info", new { projectPath = project, filePath = file })),
            1 => ("png-metadata", new HttpRequestMessage(HttpMethod.Get, "/api/png-metadata?path=" + Uri.EscapeDataString(full))),
            2 => ("serve-image", new HttpRequestMessage(HttpMethod.Get, "/api/serve-image?path=" + Uri.EscapeDataString(full))),
            3 => ("serve-image", Ranged(full)),
            4 => ("load-project", Post("/api/load-project", new { filePath = projectFile })),
            5 => ("save-image", Post("/api/save-image", new { imageUrl = PngDataUrl, folderPath = Path.Combine(project, "flipdir"), filename = $"s{i}.png" })),
            6 => ("save-image", Post("/api/save-image", new { imageUrl = PngDataUrl, folderPath = project, filename = $"flipdir/n{i}/s{i}.png" })),
            7 => ("save-base64-image", Post("/api/save-base64-image", new { dataUrl = PngDataUrl, folderPath = project, filename = "race/flip.png", overwrite = true })),
            8 => ("save-base64-image", Post("/api/save-base64-image", new { dataUrl = PngDataUrl, folderPath = Path.Combine(project, "flipdir"), filename = $"b{i}.png" })),
            9 => ("save-project", Post("/api/save-project", new { folderPath = Path.Combine(project, "flipdir"), filename = $"p{i}.json", state = new { n = i } })),
            10 => ("save-project", Post("/api/save-project", new { folderPath = Path.Combine(project, "race"), filename = "flip.json", state = new { n = i } })),
            _ => ("scan-folder", Post("/api/gallery/scan-folder", new { projectPath = project, folderPath = "race", includeDimensions = true })),
        };
    }

    private static HttpRequestMessage Post(string path, object body) => new(HttpMethod.Post, path) { Content = JsonContent.Create(body) };

    private static HttpRequestMessage Ranged(string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/serve-image?path=" + Uri.EscapeDataString(path));
        request.Headers.Range = new RangeHeaderValue(10, 99);
        return request;
    }

    private bool CarriesOutsideFile(HttpResponseMessage response, byte[] body)
    {
        if (body.AsSpan().IndexOf(Encoding.ASCII.GetBytes(LinkRaceEnvironment.Marker)) >= 0)
        {
            return true;
        }

        var total = response.Content.Headers.ContentRange?.Length ?? (response.Content.Headers.ContentRange is null ? response.Content.Headers.ContentLength : null);
        if (total == environment.OutsideSize)
        {
            return true;
        }

        if (response.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.Ordinal) != true)
        {
            return false;
        }

        return HoldsNumber(JsonNode.Parse(body), environment.OutsideSize);
    }

    private static bool HoldsNumber(JsonNode? node, long number) => node switch
    {
        JsonObject o => o.Any(p => HoldsNumber(p.Value, number)),
        JsonArray a => a.Any(item => HoldsNumber(item, number)),
        JsonValue v => v.TryGetValue<long>(out var n) && n == number,
        _ => false,
    };

    /// <summary>Swaps the three links until cancelled, half of the time through a moment with no link at all, half
    /// atomically; puts back the inside files that moves and trash took away. Returns how many swaps it made.</summary>
    private long FlipLinks(CancellationToken cancellationToken)
    {
        var links = new (string Link, string Inside, string Outside, bool IsFolder)[]
        {
            (Path.Combine(environment.RaceFolder, "flip.png"), Path.Combine(environment.RaceFolder, "inside.png"), Path.Combine(environment.OutsideFolder, "shot.png"), false),
            (Path.Combine(environment.RaceFolder, "flip.json"), Path.Combine(environment.RaceFolder, "inside.json"), Path.Combine(environment.OutsideFolder, "project.json"), false),
            (Path.Combine(environment.ProjectFolder, "flipdir"), environment.RealFolder, environment.OutsideFolder, true),
        };
        long flips = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var (link, inside, outside, isFolder) in links)
            {
                var target = flips % 2 == 0 ? outside : inside;
                try
                {
                    if (flips % 4 < 2)
                    {
                        File.Delete(link);
                        CreateLink(link, target, isFolder);
                    }
                    else
                    {
                        var temporary = Path.Combine(Path.GetDirectoryName(link)!, $".swap-{Guid.NewGuid():N}");
                        CreateLink(temporary, target, isFolder);
                        if (Rename(temporary, link) != 0)
                        {
                            File.Delete(temporary);
                        }
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // A request replaced or moved the link at that moment, or made a real folder where the link was
                    // missing for a moment (save-image creates the folders of its file name): moved aside, the next
                    // round makes the link again.
                    MoveAsideIfRealFolder(link);
                }
            }

            flips++;
            if (flips % 64 == 0)
            {
                RestoreInsideFiles();
            }
        }

        return flips;
    }

    private void RestoreInsideFiles()
    {
        var project = """{"saved_at":"inside","panels":[]}"""u8.ToArray();
        foreach (var (path, content) in new[]
        {
            (Path.Combine(environment.RaceFolder, "inside.png"), LinkRaceEnvironment.InsidePng),
            (Path.Combine(environment.RaceFolder, "inside.json"), project),
            (Path.Combine(environment.RealFolder, "shot.png"), LinkRaceEnvironment.InsidePng),
            (Path.Combine(environment.RealFolder, "project.json"), project),
        })
        {
            try
            {
                if (!File.Exists(path))
                {
                    File.WriteAllBytes(path, content);
                }
            }
            catch (IOException)
            {
                // Written by the next round.
            }
        }
    }

    private void MoveAsideIfRealFolder(string link)
    {
        try
        {
            if (Directory.Exists(link) && new DirectoryInfo(link).LinkTarget is null)
            {
                Directory.Move(link, Path.Combine(environment.ProjectFolder, $"made-{Guid.NewGuid():N}"));
            }
        }
        catch (IOException)
        {
            // Tried again at the next failure.
        }
    }

    private static void CreateLink(string path, string target, bool isFolder)
    {
        if (isFolder)
        {
            Directory.CreateSymbolicLink(path, target);
        }
        else
        {
            File.CreateSymbolicLink(path, target);
        }
    }

    // rename(2) replaces a link with another atomically; File.Move refuses a link to a folder as the target.
    [LibraryImport("libc", EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Rename(string from, string to);
}
