using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>A client of one service doing, round after round (<see cref="RequestStream"/>), what a script or the web app
/// does, and remembering every write it made so that, once stopped, it can check that each is there exactly once.</summary>
public abstract class ClientStream : IAsyncDisposable
{
    private RequestStream? _stream;

    public RequestStream Stream => _stream ?? throw new InvalidOperationException("Not started.");

    /// <summary>What it checks afterwards, for the printed summary.</summary>
    public abstract string Checked { get; }

    protected void Start(string name, RunningSuite suite, CancellationToken cancellationToken) =>
        _stream = RequestStream.Start(name, suite.Gateway.BaseAddress!, RoundAsync, cancellationToken);

    protected abstract Task RoundAsync(RequestStream stream, int round, CancellationToken cancellationToken);

    /// <summary>Once <see cref="Stream"/> has stopped: what is wrong with what the service kept of the stream's writes
    /// (nothing, if every write is there once and nothing else is).</summary>
    public abstract Task<IReadOnlyList<string>> CheckAsync(CancellationToken cancellationToken);

    public virtual async ValueTask DisposeAsync()
    {
        if (_stream is not null)
        {
            await _stream.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    protected static async Task<JsonNode> GetJsonAsync(RequestStream stream, string path, CancellationToken cancellationToken) =>
        (await stream.Gateway.GetFromJsonAsync<JsonNode>(path, cancellationToken))!;
}

/// <summary>A script submitting small renders (<c>POST /api/job</c>) and listing the render nodes.</summary>
public sealed class JobSubmissions : ClientStream
{
    private readonly List<string> _accepted = [];

    private JobSubmissions()
    {
    }

    public static JobSubmissions Start(RunningSuite suite, CancellationToken cancellationToken)
    {
        var client = new JobSubmissions();
        client.Start("jobs", suite, cancellationToken);
        return client;
    }

    public IReadOnlyList<string> Accepted
    {
        get
        {
            lock (_accepted)
            {
                return [.. _accepted];
            }
        }
    }

    public override string Checked => $"{Accepted.Count} jobs accepted";

    protected override async Task RoundAsync(RequestStream stream, int round, CancellationToken cancellationToken)
    {
        var submitted = await stream.SendAsync("POST /api/job", (http, ct) => http.PostAsJsonAsync("/api/job", new
        {
            workflow_id = "test_progress",
            parameters = new { steps = 1, delay_ms = 0, resolution = "16x16", filename_prefix = "failover/job" },
            metadata = new { n = round },
        }, ct), HttpStatusCode.Accepted);
        if (submitted is null)
        {
            return;
        }

        lock (_accepted)
        {
            _accepted.Add((string)submitted["job_id"]!);
        }

        await stream.SendAsync("GET /api/backends", (http, ct) => http.GetAsync("/api/backends", ct), HttpStatusCode.OK);
    }

    /// <summary>The jobs themselves are checked by the test, which waits for them to end.</summary>
    public override Task<IReadOnlyList<string>> CheckAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<string>>([]);
}

/// <summary>The web app's Path Mappings dialog and its path translation: each round adds a mapping, reads it back,
/// replaces it, translates a path through it, deletes every other one and lists them all.</summary>
public sealed class PathMappingEdits : ClientStream
{
    private readonly string _prefix = $"kill-{Guid.NewGuid().ToString("N")[..8]}";

    // Mapping id → the Linux prefix it must have now, or null once deleted.
    private readonly Dictionary<string, string?> _expected = new(StringComparer.Ordinal);

    private PathMappingEdits()
    {
    }

    public static PathMappingEdits Start(RunningSuite suite, CancellationToken cancellationToken)
    {
        var client = new PathMappingEdits();
        client.Start("path mappings", suite, cancellationToken);
        return client;
    }

    public override string Checked
    {
        get
        {
            lock (_expected)
            {
                return $"{_expected.Count} mappings added ({_expected.Values.Count(v => v is null)} deleted), each there once as last written";
            }
        }
    }

    protected override async Task RoundAsync(RequestStream stream, int round, CancellationToken cancellationToken)
    {
        var name = $"{_prefix}-{round}";
        var windows = $@"K:\{_prefix}\{round}";
        var linux = $"/mnt/{_prefix}/{round}";
        var created = await stream.SendAsync("POST /api/path-mappings",
            (http, ct) => http.PostAsJsonAsync("/api/path-mappings", new { name, windows, linux }, ct), HttpStatusCode.Created);
        if (created is null)
        {
            return;
        }

        var id = (string)created["mapping"]!["id"]!;
        Expect(id, linux);
        var read = await stream.SendAsync($"GET /api/path-mappings/{id}", (http, ct) => http.GetAsync($"/api/path-mappings/{id}", ct), HttpStatusCode.OK);
        if (read is null)
        {
            return;
        }

        if ((string?)read["mapping"]!["name"] != name)
        {
            stream.Fail($"mapping {id} read back as {read.ToJsonString()}, not named {name}");
        }

        var updated = $"{linux}-v2";
        if (await stream.SendAsync($"PUT /api/path-mappings/{id}",
                (http, ct) => http.PutAsJsonAsync($"/api/path-mappings/{id}", new { name, windows, linux = updated }, ct), HttpStatusCode.OK) is null)
        {
            return;
        }

        Expect(id, updated);
        var translated = await stream.SendAsync("POST /api/translate-path",
            (http, ct) => http.PostAsJsonAsync("/api/translate-path", new { path = windows + @"\shot_010.exr", target_os = "linux" }, ct), HttpStatusCode.OK);
        if (translated is null)
        {
            return;
        }

        if ((string?)translated["translated"] != $"{updated}/shot_010.exr")
        {
            stream.Fail($"{windows}\\shot_010.exr translated as {translated.ToJsonString()}, not through the mapping just updated");
        }

        if (round % 2 == 0)
        {
            if (await stream.SendAsync($"DELETE /api/path-mappings/{id}", (http, ct) => http.DeleteAsync($"/api/path-mappings/{id}", ct), HttpStatusCode.OK) is null)
            {
                return;
            }

            Expect(id, null);
        }

        var list = await stream.SendAsync("GET /api/path-mappings", (http, ct) => http.GetAsync("/api/path-mappings", ct), HttpStatusCode.OK);
        if (list is not null && list["mappings"]!.AsArray().Any(m => (string?)m!["id"] == id) == (round % 2 == 0))
        {
            stream.Fail($"the list {(round % 2 == 0 ? "still has the deleted" : "lacks the")} mapping {id}");
        }
    }

    public override async Task<IReadOnlyList<string>> CheckAsync(CancellationToken cancellationToken)
    {
        var ours = (await GetJsonAsync(Stream, "/api/path-mappings", cancellationToken))["mappings"]!.AsArray()
            .Where(m => ((string?)m!["name"])?.StartsWith(_prefix + "-", StringComparison.Ordinal) == true)
            .ToArray();
        var wrong = new List<string>();
        lock (_expected)
        {
            foreach (var (id, linux) in _expected)
            {
                var found = ours.Where(m => (string?)m!["id"] == id).ToArray();
                if (linux is null && found.Length > 0)
                {
                    wrong.Add($"mapping {id} was deleted and is there");
                }
                else if (linux is not null && (found.Length != 1 || (string?)found[0]!["linux"] != linux))
                {
                    wrong.Add($"mapping {id} should be there once with linux {linux}: {string.Join(", ", found.Select(f => f!.ToJsonString()))}");
                }
            }

            wrong.AddRange(ours.Where(m => !_expected.ContainsKey((string)m!["id"]!)).Select(m => $"a mapping nobody added (a POST applied twice?): {m!.ToJsonString()}"));
            wrong.AddRange(ours.GroupBy(m => (string?)m!["name"]).Where(g => g.Count() > 1).Select(g => $"{g.Count()} mappings named {g.Key}"));
        }

        return wrong;
    }

    /// <summary>Removes the mappings the stream left, so the shared suite's other tests do not see them.</summary>
    public async Task DeleteLeftoversAsync(CancellationToken cancellationToken)
    {
        string[] kept;
        lock (_expected)
        {
            kept = [.. _expected.Where(e => e.Value is not null).Select(e => e.Key)];
        }

        foreach (var id in kept)
        {
            using var deleted = await Stream.Gateway.DeleteAsync($"/api/path-mappings/{id}", cancellationToken);
        }
    }

    private void Expect(string id, string? linux)
    {
        lock (_expected)
        {
            _expected[id] = linux;
        }
    }
}

/// <summary>The web app's gallery and project saving on a small project under the suite's default project root: each
/// round scans the tree and a folder, reads a file's details, rates it, tags or untags it, saves a new image into the
/// project and saves the project file.</summary>
public sealed class GalleryEdits : ClientStream
{
    private const int Shots = 3;
    private const string ProjectFile = "kill_project.json";

    private readonly string _project;
    private readonly Dictionary<string, int> _ratings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> _tagged = new(StringComparer.Ordinal);
    private readonly List<string> _saved = [];
    private readonly string _png = "data:image/png;base64," + Convert.ToBase64String(TestPng.WithPrompt("{}"));
    private int _tagId;
    private int _projectSavedAtRound;

    private GalleryEdits(string project) => _project = project;

    public static async Task<GalleryEdits> StartAsync(RunningSuite suite, CancellationToken cancellationToken)
    {
        var project = Path.Combine(suite.WorkingDirectory, "data", "projects", $"kill-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(Path.Combine(project, "shots"));
        for (var i = 1; i <= Shots; i++)
        {
            await File.WriteAllBytesAsync(Path.Combine(project, "shots", $"shot_{i}.png"), TestPng.WithPrompt($"{{\"shot\": {i}}}"), cancellationToken);
        }

        var client = new GalleryEdits(project);
        using (var tag = await suite.Gateway.PostAsJsonAsync("/api/gallery/tags", new { projectPath = project, name = "Hero", color = "#ff6b6b" }, cancellationToken))
        {
            Assert.True(tag.StatusCode == HttpStatusCode.Created, await tag.Content.ReadAsStringAsync(cancellationToken));
            client._tagId = (int)(await tag.Content.ReadFromJsonAsync<JsonNode>(cancellationToken))!["tag"]!["id"]!;
        }

        client.Start("gallery", suite, cancellationToken);
        return client;
    }

    public override string Checked
    {
        get
        {
            lock (_ratings)
            {
                return $"{_saved.Count} images saved, {Shots} files rated and tagged, the project file saved at round {_projectSavedAtRound}";
            }
        }
    }

    protected override async Task RoundAsync(RequestStream stream, int round, CancellationToken cancellationToken)
    {
        var shots = Path.Combine(_project, "shots");
        if (await stream.SendAsync("POST /api/gallery/scan-tree",
                (http, ct) => http.PostAsJsonAsync("/api/gallery/scan-tree", new { projectPath = _project, folderPath = _project }, ct), HttpStatusCode.OK) is null)
        {
            return;
        }

        var folder = await stream.SendAsync("POST /api/gallery/scan-folder",
            (http, ct) => http.PostAsJsonAsync("/api/gallery/scan-folder", new { projectPath = _project, folderPath = shots }, ct), HttpStatusCode.OK);
        if (folder is null)
        {
            return;
        }

        if (folder["files"]!.AsArray().Count != Shots)
        {
            stream.Fail($"scan-folder found {folder["files"]!.AsArray().Count} files in shots/, not {Shots}");
        }

        var relPath = $"shots/shot_{(round % Shots) + 1}.png";
        var info = await stream.SendAsync("POST /api/gallery/file-info",
            (http, ct) => http.PostAsJsonAsync("/api/gallery/file-info", new { projectPath = _project, filePath = Path.Combine(_project, relPath) }, ct), HttpStatusCode.OK);
        if (info is null)
        {
            return;
        }

        var rating = (round % 5) + 1;
        if (await stream.SendAsync("POST /api/gallery/ratings",
                (http, ct) => http.PostAsJsonAsync("/api/gallery/ratings", new { projectPath = _project, filePath = relPath, rating }, ct), HttpStatusCode.OK) is null)
        {
            return;
        }

        lock (_ratings)
        {
            _ratings[relPath] = rating;
        }

        var add = round % 2 == 0;
        var tags = await stream.SendAsync("POST /api/gallery/file-tags", (http, ct) => http.PostAsJsonAsync("/api/gallery/file-tags", add
            ? new { projectPath = _project, filePath = relPath, addTags = new[] { _tagId }, removeTags = Array.Empty<int>() }
            : new { projectPath = _project, filePath = relPath, addTags = Array.Empty<int>(), removeTags = new[] { _tagId } }, ct), HttpStatusCode.OK);
        if (tags is null)
        {
            return;
        }

        lock (_ratings)
        {
            _tagged[relPath] = add;
        }

        if (tags["tags"]!.AsArray().Any(t => (int)t!["id"]! == _tagId) != add)
        {
            stream.Fail($"file-tags answered {tags.ToJsonString()} after {(add ? "adding" : "removing")} tag {_tagId}");
        }

        var filename = $"saved/round_{round}.png";
        if (await stream.SendAsync("POST /api/save-base64-image",
                (http, ct) => http.PostAsJsonAsync("/api/save-base64-image", new { dataUrl = _png, folderPath = _project, filename }, ct), HttpStatusCode.Created) is null)
        {
            return;
        }

        lock (_ratings)
        {
            _saved.Add(Path.GetFileName(filename));
        }

        if (await stream.SendAsync("POST /api/save-project", (http, ct) => http.PostAsJsonAsync("/api/save-project",
                new { folder_path = _project, filename = ProjectFile, state = new { round, panels = Array.Empty<object>() } }, ct), HttpStatusCode.OK) is not null)
        {
            lock (_ratings)
            {
                _projectSavedAtRound = round;
            }
        }
    }

    public override async Task<IReadOnlyList<string>> CheckAsync(CancellationToken cancellationToken)
    {
        var wrong = new List<string>();
        var ratings = (await GetJsonAsync(Stream, "/api/gallery/ratings?projectPath=" + Uri.EscapeDataString(_project), cancellationToken))["ratings"]!
            .AsObject().ToDictionary(pair => pair.Key, pair => (int)pair.Value!, StringComparer.Ordinal);
        using var shotsReply = await Stream.Gateway.PostAsJsonAsync("/api/gallery/scan-folder",
            new { projectPath = _project, folderPath = Path.Combine(_project, "shots") }, cancellationToken);
        var shots = (await shotsReply.Content.ReadFromJsonAsync<JsonNode>(cancellationToken))!["files"]!.AsArray();
        using var savedReply = await Stream.Gateway.PostAsJsonAsync("/api/gallery/scan-folder",
            new { projectPath = _project, folderPath = Path.Combine(_project, "saved") }, cancellationToken);
        string[] saved = savedReply.StatusCode == HttpStatusCode.NotFound ? [] : [.. (await savedReply.Content.ReadFromJsonAsync<JsonNode>(cancellationToken))!["files"]!
            .AsArray().Select(f => (string)f!["name"]!).Order(StringComparer.Ordinal)];
        using var loaded = await Stream.Gateway.PostAsJsonAsync("/api/load-project", new { file_path = Path.Combine(_project, ProjectFile) }, cancellationToken);
        var project = await loaded.Content.ReadFromJsonAsync<JsonNode>(cancellationToken);
        lock (_ratings)
        {
            if (!ratings.OrderBy(r => r.Key, StringComparer.Ordinal).SequenceEqual(_ratings.OrderBy(r => r.Key, StringComparer.Ordinal)))
            {
                wrong.Add($"ratings {string.Join(", ", ratings)}, not the last ones set: {string.Join(", ", _ratings)}");
            }

            foreach (var (relPath, tagged) in _tagged)
            {
                var file = shots.SingleOrDefault(f => (string?)f!["rel_path"] == relPath);
                if (file is null || file["tags"]!.AsArray().Any(t => (int)t!["id"]! == _tagId) != tagged)
                {
                    wrong.Add($"{relPath} should {(tagged ? "" : "not ")}carry tag {_tagId}: {file?.ToJsonString()}");
                }
            }

            if (!saved.SequenceEqual(_saved.Order(StringComparer.Ordinal)))
            {
                wrong.Add($"saved/ holds {string.Join(", ", saved)}; the stream saved {string.Join(", ", _saved.Order(StringComparer.Ordinal))}");
            }

            if ((int?)project?["state"]?["round"] != _projectSavedAtRound)
            {
                wrong.Add($"the project file holds {project?["state"]?.ToJsonString()}, not the state saved at round {_projectSavedAtRound}");
            }
        }

        return wrong;
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_project, recursive: true);
    }
}
