using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.GalleryService.Gallery.Browsing;
using DirectorsConsole.GalleryService.Gallery.Search;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.GalleryBench;

// Builds a 20,000-file project in a temporary folder, runs the gallery service in-process against an embedded
// Garnet, and prints how long each gallery call takes. Not part of `dotnet test`.
// Options: --only scan-tree,search,... (the measures whose route is named; the rest are skipped, the order and what each
// measures stay the same), --repeat N (each measure N times in a row: the first is the figure of a fresh replica,
// the later ones show what a replica that has answered before takes).
internal static class Benchmark
{
    private const int TotalFiles = 20_000;
    private const int BigFolderFiles = 5_000;

    public static async Task Main(string[] args)
    {
        var only = OptionOf(args, "--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var repeat = int.Parse(OptionOf(args, "--repeat") ?? "1", System.Globalization.CultureInfo.InvariantCulture);
        var root = Directory.CreateTempSubdirectory("dc-gallery-bench-").FullName;
        try
        {
            var project = Path.Combine(root, "Eliot");
            var built = Stopwatch.StartNew();
            var (pngs, duplicates) = BuildProject(project);
            Console.WriteLine($"Project: {TotalFiles:N0} files ({pngs:N0} PNG with metadata, {duplicates:N0} duplicate copies) in {built.Elapsed.TotalSeconds:0.0} s at {project}");

            // WebApplicationFactory looks for the service's project folder as content root; the build output will do.
            Environment.SetEnvironmentVariable("ASPNETCORE_TEST_CONTENTROOT_DIRECTORSCONSOLE_GALLERYSERVICE", AppContext.BaseDirectory);
            await using var garnet = await RedisServerProcess.StartGarnetAsync();
            await using var service = new ServiceFactory<global::Program>(garnet.ConnectionString, new Dictionary<string, string?> { ["project_roots"] = root });
            using var client = service.CreateClient();
            client.Timeout = TimeSpan.FromMinutes(10);
            await client.GetAsync("/alive");
            Directory.CreateDirectory(Path.Combine(project, ".gallery"));
            // A project being searched was not written in the same instant: the gallery remembers a folder's listing
            // only once its last change is older than a coarse file-system clock can tell apart (QuietMargin), so
            // folders written just now would be listed again by every search until then.
            var quiet = ProjectScanner.QuietMargin + TimeSpan.FromSeconds(0.5);
            await Task.Delay(quiet);

            Console.WriteLine();
            Console.WriteLine($"Load average before the measures: {LoadAverage()}");
            Console.WriteLine($"{"operation",-44} {"ms",10}  result");
            await Measure("scan-tree (whole project)", "scan-tree", new { projectPath = project },
                body => $"{body["folders"]!.AsArray().Count} folders");
            await Measure("scan-folder, 5,000 files, first page by name", "scan-folder", new { projectPath = project, folderPath = "Big", limit = 200 },
                body => $"{body["files"]!.AsArray().Count} of {body["total"]}");
            await Measure("scan-folder, 5,000 files, sorted by modified", "scan-folder", new { projectPath = project, folderPath = "Big", sortField = "modified", sortDirection = "desc", limit = 200 },
                body => $"{body["files"]!.AsArray().Count} of {body["total"]}");
            await Measure("scan-recursive (whole project)", "scan-recursive", new { projectPath = project },
                body => $"{body["total_files"]} files");
            await Measure("folder-stats (whole project)", "folder-stats", new { projectPath = project },
                body => $"{body["total_files"]} files, {(long)body["total_size"]! / 1_048_576.0:0.0} MiB");
            var index = service.Services.GetRequiredService<PngSearchIndex>();
            await Measure("search, first (index cold)", "search", new { projectPath = project, query = "lighthouse" },
                body => $"{body["total"]} hits, {body["metadata_read"]} PNGs read");
            await Measure("search, repeated (index warm)", "search", new { projectPath = project, query = "desert road" },
                body => $"{body["total"]} hits, {body["metadata_read"]} PNGs read");
            await Measure("find-duplicates (whole project)", "find-duplicates", new { projectPath = project },
                body => $"{body["groups"]!.AsArray().Count} groups, {body["files_hashed"]} files hashed");
            if (only is null || only.Contains("ratings"))
            {
                var rated = Stopwatch.StartNew();
                for (var i = 0; i < 100; i++)
                {
                    (await client.PostAsJsonAsync("/api/gallery/ratings", new { projectPath = project, filePath = $"Big/big_{i * 2:00000}.png", rating = 1 + i % 5 })).EnsureSuccessStatusCode();
                }

                Console.WriteLine($"{"100 ratings one after another",-44} {rated.Elapsed.TotalMilliseconds,10:0.0}  {rated.Elapsed.TotalMilliseconds / 100:0.0} ms each");
            }

            GC.Collect();
            Console.WriteLine();
            Console.WriteLine($"Load average after the measures: {LoadAverage()}");
            Console.WriteLine($"Memory: managed heap {GC.GetTotalMemory(forceFullCollection: true) / 1_048_576.0:0.0} MiB, working set {Environment.WorkingSet / 1_048_576.0:0.0} MiB, " +
                $"metadata reads in total {index.MetadataReads:N0}");

            async Task Measure(string name, string route, object body, Func<JsonNode, string> describe)
            {
                // "search" names both searches; the first one is what makes the second one's index warm.
                if (only is not null && !only.Contains(route))
                {
                    return;
                }

                for (var round = 1; round <= repeat; round++)
                {
                    var watch = Stopwatch.StartNew();
                    using var response = await client.PostAsJsonAsync("/api/gallery/" + route, body);
                    var text = await response.Content.ReadAsStringAsync();
                    watch.Stop();
                    response.EnsureSuccessStatusCode();
                    var label = repeat == 1 ? name : $"{name} #{round}";
                    Console.WriteLine($"{label,-44} {watch.Elapsed.TotalMilliseconds,10:0.0}  {describe(JsonNode.Parse(text)!)} ({text.Length / 1024.0:0} KiB)");
                }
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string? OptionOf(string[] args, string name) =>
        Array.IndexOf(args, name) is var at && at >= 0 && at + 1 < args.Length ? args[at + 1] : null;

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    // 40 panels of nested folders and one 5,000-file folder: PNGs with ComfyUI prompt and workflow chunks, JPEGs,
    // small fake videos and other images, and some byte-identical copies.
    private static (int Pngs, int Duplicates) BuildProject(string project)
    {
        var random = new Random(42);
        var subjects = new[] { "a lighthouse at dusk", "a desert road", "a rainy street", "a forest clearing", "a spaceship hangar" };
        var written = 0;
        var pngs = 0;
        var duplicates = 0;
        var copies = new List<string>();

        string Folder(int i) => i < BigFolderFiles
            ? Path.Combine(project, "Big")
            : Path.Combine(project, $"Panel_{i % 40 + 1:00}", $"Take_{i % 3 + 1}", i % 7 == 0 ? "Alt" : "");

        while (written < TotalFiles)
        {
            var i = written;
            var folder = Folder(i);
            Directory.CreateDirectory(folder);
            string path;
            if (i % 50 == 49 && copies.Count > 0)
            {
                var source = copies[random.Next(copies.Count)];
                path = Path.Combine(folder, $"copy_{i:00000}{Path.GetExtension(source)}");
                File.Copy(source, path);
                duplicates++;
            }
            else if (i < BigFolderFiles || i % 10 < 6)
            {
                var subject = subjects[random.Next(subjects.Length)];
                var prompt = "{\"3\":{\"class_type\":\"KSampler\",\"inputs\":{\"seed\":" + random.NextInt64() + ",\"steps\":30,\"positive\":[\"6\",0],\"negative\":[\"7\",0]}},"
                    + "\"6\":{\"class_type\":\"CLIPTextEncode\",\"inputs\":{\"text\":\"cinematic shot of " + subject + ", 35mm, film grain\"}},"
                    + "\"7\":{\"class_type\":\"CLIPTextEncode\",\"inputs\":{\"text\":\"blurry, low quality\"}}}";
                var workflow = $$"""{"nodes":[{{string.Join(",", Enumerable.Range(0, 12).Select(n => $$"""{"id":{{n}},"type":"Node{{n}}","pos":[{{n * 10}},{{n * 20}}],"widgets_values":["{{subject}}",{{random.Next()}}]}"""))}}]}""";
                path = Path.Combine(folder, i < BigFolderFiles ? $"big_{i:00000}.png" : $"render_{i:00000}.png");
                File.WriteAllBytes(path, TestPng.Create([TestPng.Text("prompt", prompt), TestPng.Text("workflow", workflow)]));
                pngs++;
            }
            else if (i % 10 < 8)
            {
                path = Path.Combine(folder, $"still_{i:00000}.jpg");
                var jpeg = new byte[2048 + random.Next(4096)];
                random.NextBytes(jpeg);
                jpeg[0] = 0xFF;
                jpeg[1] = 0xD8;
                File.WriteAllBytes(path, jpeg);
            }
            else if (i % 10 == 8)
            {
                path = Path.Combine(folder, $"clip_{i:00000}.mp4");
                var video = new byte[4096 + random.Next(12_288)];
                random.NextBytes(video);
                File.WriteAllBytes(path, video);
            }
            else
            {
                path = Path.Combine(folder, $"plate_{i:00000}.webp");
                var webp = new byte[1024 + random.Next(2048)];
                random.NextBytes(webp);
                File.WriteAllBytes(path, webp);
            }

            if (i % 97 == 0)
            {
                copies.Add(path);
            }

            written++;
        }

        return (pngs, duplicates);
    }
}
