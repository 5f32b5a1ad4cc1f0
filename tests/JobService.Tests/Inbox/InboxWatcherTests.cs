using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Apis;
using DirectorsConsole.JobService.Inbox;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.JobService.Tests.Workflows;
using DirectorsConsole.JobService.Workflows;
using DirectorsConsole.ServiceDefaults.Configuration;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Tests.Inbox;

public sealed class InboxWatcherTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("dc-inbox-").FullName;
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly RecordingJobEngine _engine = new();

    private string Inbox => Path.Combine(_root, "inbox");

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private InboxWatcher Watcher(IJobEngine? engine = null)
    {
        var library = new WorkflowLibrary(
            Options.Create(new WorkflowLibraryOptions { WorkflowsDir = ShippedWorkflows.Folder }),
            Options.Create(new OrchestratorOptions()));
        return new InboxWatcher(
            engine ?? _engine,
            new PromptPreparation(library),
            Options.Create(new InboxOptions { Inbox = Inbox, SettleSeconds = 1 }),
            Options.Create(new OrchestratorOptions()),
            _clock,
            NullLogger<InboxWatcher>.Instance);
    }

    private void Drop(string name, string json)
    {
        Directory.CreateDirectory(Inbox);
        File.WriteAllText(Path.Combine(Inbox, name), json);
    }

    private static string[] FilesIn(string folder) =>
        Directory.Exists(folder) ? Directory.GetFiles(folder).Select(file => Path.GetFileName(file)).Order().ToArray() : [];

    /// <summary>Two passes with the settle time between them: what a file that is not changing goes through.</summary>
    private async Task<int> ScanSettledAsync(InboxWatcher watcher)
    {
        await watcher.ScanOnceAsync(Cancellation);
        _clock.Advance(TimeSpan.FromSeconds(2));
        return await watcher.ScanOnceAsync(Cancellation);
    }

    [Fact]
    public async Task ManifestIsSubmittedAndMovedToProcessedUnderItsJobId()
    {
        // Arrange
        var watcher = Watcher();
        Drop("shot_010.json", """
            {"workflow_id": "test_progress", "parameters": {"steps": 3, "fps": 24}, "metadata": {"panel_id": 3},
             "backend_affinity": "node-a", "required_capabilities": ["gpu"], "priority": 5, "seed": 99}
            """);

        // Act
        var handled = await ScanSettledAsync(watcher);

        // Assert
        Assert.Equal(1, handled);
        var submission = Assert.Single(_engine.Submissions);
        Assert.Equal(3, (long)submission.Prompt["1"]!["inputs"]!["steps"]!);
        Assert.Equal("test_progress", submission.WorkflowId);
        Assert.Equal("node-a", submission.BackendAffinity);
        Assert.Equal(["gpu"], submission.RequiredCapabilities);
        Assert.Equal(5, submission.Priority);
        Assert.Equal(99, submission.Seed);
        Assert.Equal(["1"], submission.SeedNodes);
        Assert.Equal(3, (int)submission.Metadata["panel_id"]!);
        Assert.Equal("shot_010.json", (string?)submission.Metadata["inbox_file"]);
        Assert.StartsWith("fps: ", Assert.Single(submission.IgnoredParameters));
        Assert.Empty(FilesIn(Inbox));
        Assert.Equal([$"{_engine.JobIds[0]}__shot_010.json"], FilesIn(Path.Combine(Inbox, "processed")));
        Assert.Empty(FilesIn(Path.Combine(Inbox, "processing")));
    }

    [Fact]
    public async Task WorkflowJsonManifestIsSubmittedWithDefaultParameters()
    {
        // Arrange
        var watcher = Watcher();
        var workflow = File.ReadAllText(Path.Combine(ShippedWorkflows.Folder, "txt2img_sdxl.json"));
        Drop("adhoc.json", $$$"""{"workflow_json": {{{workflow}}}, "parameters": {"prompt": "a red door"}}""");

        // Act
        await ScanSettledAsync(watcher);

        // Assert
        var submission = Assert.Single(_engine.Submissions);
        Assert.Equal("a red door", (string?)submission.Prompt["6"]!["inputs"]!["text"]);
        Assert.Null(submission.WorkflowId);
        Assert.Equal(300, submission.TimeoutSeconds);
    }

    [Fact]
    public async Task FileIsNotReadUntilItHasStoppedChanging()
    {
        // Arrange
        var watcher = Watcher();
        Drop("slow.json", """{"workflow_id": "empty_image", """);

        // Act: the writer is still at it between the passes
        await watcher.ScanOnceAsync(Cancellation);
        _clock.Advance(TimeSpan.FromSeconds(2));
        File.AppendAllText(Path.Combine(Inbox, "slow.json"), """ "parameters": {"width": 32}}""");
        var whileWriting = await watcher.ScanOnceAsync(Cancellation);
        _clock.Advance(TimeSpan.FromMilliseconds(500));
        var tooSoon = await watcher.ScanOnceAsync(Cancellation);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var settled = await watcher.ScanOnceAsync(Cancellation);

        // Assert
        Assert.Equal(0, whileWriting);
        Assert.Equal(0, tooSoon);
        Assert.Equal(1, settled);
        Assert.Equal(32, (long)Assert.Single(_engine.Submissions).Prompt["1"]!["inputs"]!["width"]!);
    }

    [Fact]
    public async Task TemporaryAndHiddenFilesAreLeftAlone()
    {
        // Arrange
        var watcher = Watcher();
        Drop(".shot.json", """{"workflow_id": "empty_image"}""");
        Drop("shot.json.tmp", """{"workflow_id": "empty_image"}""");
        Drop("notes.txt", "not a manifest");

        // Act
        var handled = await ScanSettledAsync(watcher);

        // Assert
        Assert.Equal(0, handled);
        Assert.Empty(_engine.Submissions);
        Assert.Equal([".shot.json", "notes.txt", "shot.json.tmp"], FilesIn(Inbox));
    }

    [Theory]
    [InlineData("""{"workflow_id": "no_such_workflow"}""", "workflow 'no_such_workflow' is not in the library")]
    [InlineData("""{"workflow_id": "test_progress", "parameters": {"steps": "abc"}}""", "parameters.steps: Input should be a valid integer")]
    [InlineData("""{"parameters": {}}""", "give either workflow_json")]
    [InlineData("""{"workflow_json": {"1": {"inputs": {}}}}""", "workflow_json.1.class_type")]
    [InlineData("""{"workflow_id": "empty_image", "timeout_seconds": 5}""", "timeout_seconds")]
    [InlineData("""{"workflow_id": "empty_image", "priority": "high"}""", "priority")]
    [InlineData("""{"workflow_id": """, "not valid JSON")]
    [InlineData("""[1, 2]""", "must be a JSON object")]
    public async Task BadManifestMovesToFailedWithTheReason(string manifest, string reason)
    {
        // Arrange
        var watcher = Watcher();
        Drop("shot.json", manifest);

        // Act
        var handled = await ScanSettledAsync(watcher);

        // Assert
        Assert.Equal(1, handled);
        Assert.Empty(_engine.Submissions);
        var failed = Path.Combine(Inbox, "failed");
        Assert.Equal(["shot.error.txt", "shot.json"], FilesIn(failed));
        Assert.Contains(reason, File.ReadAllText(Path.Combine(failed, "shot.error.txt")));
        Assert.Equal(manifest, File.ReadAllText(Path.Combine(failed, "shot.json")));
    }

    [Theory]
    [InlineData("CON.json", "renamed_CON.json", "Windows device name")]
    [InlineData("lpt1.json", "renamed_lpt1.json", "Windows device name")]
    [InlineData("shot\u0001.json", "renamed_shot_.json", "control character U+0001")]
    [InlineData("shot:1.json", "renamed_shot_1.json", "Windows does not allow")]
    public async Task ManifestWhoseNameOtherHostsCannotUseIsRefusedAndKeptUnderAPortableName(string name, string keptAs, string reason)
    {
        // Arrange
        var watcher = Watcher();
        name = System.Text.RegularExpressions.Regex.Unescape(name);
        Drop(name, """{"workflow_id": "empty_image"}""");

        // Act
        var handled = await ScanSettledAsync(watcher);

        // Assert: not submitted; the manifest and its reason in failed/ under names every host can use
        Assert.Equal(1, handled);
        Assert.Empty(_engine.Submissions);
        Assert.Empty(FilesIn(Inbox));
        var failed = Path.Combine(Inbox, "failed");
        var errorFile = Path.GetFileNameWithoutExtension(keptAs) + ".error.txt";
        Assert.Equal(new[] { errorFile, keptAs }.Order(), FilesIn(failed));
        var error = File.ReadAllText(Path.Combine(failed, errorFile));
        Assert.Contains(reason, error);
        Assert.Contains(keptAs, error);
    }

    [Fact]
    public async Task SecondFailureOfTheSameNameKeepsTheFirst()
    {
        // Arrange
        var watcher = Watcher();
        Drop("shot.json", "{}");
        await ScanSettledAsync(watcher);
        Drop("shot.json", "[]");

        // Act
        await ScanSettledAsync(watcher);

        // Assert
        Assert.Equal(4, FilesIn(Path.Combine(Inbox, "failed")).Length);
    }

    [Fact]
    public async Task EngineRejectionMovesToFailedWithItsMessage()
    {
        // Arrange
        var watcher = Watcher(new RecordingJobEngine { Failure = new InvalidOperationException("backend node-z is disabled") });
        Drop("shot.json", """{"workflow_id": "empty_image"}""");

        // Act
        await ScanSettledAsync(watcher);

        // Assert
        Assert.Contains("backend node-z is disabled", File.ReadAllText(Path.Combine(Inbox, "failed", "shot.error.txt")));
    }

    [Fact]
    public async Task StoreOutageGivesTheManifestBackForTheNextPass()
    {
        // Arrange
        var watcher = Watcher(new RecordingJobEngine { Failure = new RedisConnectionException("connection refused") });
        Drop("shot.json", """{"workflow_id": "empty_image"}""");

        // Act
        await watcher.ScanOnceAsync(Cancellation);
        _clock.Advance(TimeSpan.FromSeconds(2));
        await Assert.ThrowsAsync<RedisConnectionException>(() => watcher.ScanOnceAsync(Cancellation));

        // Assert
        Assert.Equal(["shot.json"], FilesIn(Inbox));
        Assert.Empty(FilesIn(Path.Combine(Inbox, "processing")));
        Assert.Empty(FilesIn(Path.Combine(Inbox, "failed")));
    }

    [Fact]
    public async Task TwoReplicasScanningTogetherSubmitEachManifestOnce()
    {
        // Arrange: replica B scans while replica A is submitting its first file
        var engine = new RecordingJobEngine();
        var a = Watcher(engine);
        var b = Watcher(engine);
        Drop("one.json", """{"workflow_id": "empty_image"}""");
        Drop("two.json", """{"workflow_id": "empty_image"}""");
        await a.ScanOnceAsync(Cancellation);
        await b.ScanOnceAsync(Cancellation);
        _clock.Advance(TimeSpan.FromSeconds(2));
        engine.OnFirstSubmit = () => b.ScanOnceAsync(Cancellation);

        // Act
        var byA = await a.ScanOnceAsync(Cancellation);

        // Assert
        Assert.Equal(2, engine.Submissions.Count);
        Assert.Equal(2, engine.Submissions.Select(s => (string?)s.Metadata["inbox_file"]).Distinct().Count());
        Assert.Equal(2, FilesIn(Path.Combine(Inbox, "processed")).Length);
        Assert.Equal(1, byA);
    }

    [Fact]
    public async Task ClaimOfAReplicaThatDiedGoesBackToTheInbox()
    {
        // Arrange
        var watcher = Watcher();
        var processing = Path.Combine(Inbox, "processing");
        Directory.CreateDirectory(processing);
        var stale = Path.Combine(processing, "0123abcd__orphan.json");
        var fresh = Path.Combine(processing, "4567ef01__busy.json");
        File.WriteAllText(stale, """{"workflow_id": "empty_image"}""");
        File.WriteAllText(fresh, """{"workflow_id": "empty_image"}""");
        File.SetLastWriteTimeUtc(stale, _clock.GetUtcNow().UtcDateTime.AddHours(-1));
        File.SetLastWriteTimeUtc(fresh, _clock.GetUtcNow().UtcDateTime.AddSeconds(-5));

        // Act
        await watcher.ScanOnceAsync(Cancellation);

        // Assert
        Assert.Equal(["orphan.json"], FilesIn(Inbox));
        Assert.Equal(["4567ef01__busy.json"], FilesIn(processing));
    }

    [Fact]
    public async Task DisabledInboxDoesNothing()
    {
        // Arrange
        var library = new WorkflowLibrary(Options.Create(new WorkflowLibraryOptions()), Options.Create(new OrchestratorOptions()));
        var watcher = new InboxWatcher(_engine, new PromptPreparation(library), Options.Create(new InboxOptions()),
            Options.Create(new OrchestratorOptions()), _clock, NullLogger<InboxWatcher>.Instance);

        // Act
        var handled = await watcher.ScanOnceAsync(Cancellation);

        // Assert
        Assert.Null(watcher.Directory);
        Assert.Equal(0, handled);
    }

    [Fact]
    public void OptionsPreferTheEnvironmentVariableAndRejectNonsense()
    {
        // Arrange
        var both = new InboxOptions { Inbox = "/env/inbox", InboxDir = "/yaml/inbox" };
        var broken = new InboxOptions { PollSeconds = 0, ClaimExpirySeconds = 10, TimeoutSeconds = 60 };

        // Act
        var result = new InboxOptionsValidator().Validate(null, broken);

        // Assert
        Assert.Equal("/env/inbox", both.ConfiguredPath);
        Assert.False(new InboxOptions().Enabled);
        Assert.True(result.Failed);
        Assert.Equal(2, result.Failures!.Count());
    }

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }

    /// <summary>Records submissions and answers like the engine: a queued job with a fresh id.</summary>
    private sealed class RecordingJobEngine : IJobEngine
    {
        public List<JobSubmission> Submissions { get; } = [];

        public List<string> JobIds { get; } = [];

        public Exception? Failure { get; init; }

        public Func<Task>? OnFirstSubmit { get; set; }

        public async Task<JobRecord> SubmitJobAsync(JobSubmission submission, CancellationToken cancellationToken)
        {
            if (Failure is not null)
            {
                throw Failure;
            }

            Submissions.Add(submission);
            var id = Guid.NewGuid().ToString();
            JobIds.Add(id);
            if (OnFirstSubmit is { } first)
            {
                OnFirstSubmit = null;
                await first();
            }

            return new JobRecord(id, JobStatuses.Queued, DateTimeOffset.UtcNow);
        }

        public Task<JobGroupView> SubmitGroupAsync(JobGroupSubmission submission, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<JobRecord?> GetJobAsync(string jobId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<JobPage> ListJobsAsync(string? status, int offset, int limit, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<JobGroupView?> GetGroupAsync(string groupId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<JobGroupView>> ListGroupsAsync(int offset, int limit, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<JobRecord?> CancelJobAsync(string jobId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<JobGroupCancelResult?> CancelGroupAsync(string groupId, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
