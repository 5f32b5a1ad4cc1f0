using System.Text.Json.Nodes;
using DirectorsConsole.Contracts;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// Where a job's prompt is kept (<see cref="JobPrompt"/>): apart from its record, once per single job and once per
/// group, read by the dispatch alone. A record stored with its prompt inside, as before, is still sent with it, and its
/// next change moves the prompt out. A job whose prompt is gone fails rather than sending an empty one. Run on a
/// JobService whose own scheduler never runs (the test holds its lease, and runs passes itself).
/// </summary>
public sealed class JobPromptStorageTests
{
    private const string Backend = "prompt-store";

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static JsonObject Workflow(string name) => new() { ["nodes"] = new JsonArray(), ["links"] = new JsonArray(), ["extra"] = name };

    [Fact]
    public async Task APromptIsStoredOnceApartFromTheRecordsAndSentWithEachDispatch()
    {
        // Arrange
        await using var rig = await CountedJobService.StartAsync((Backend, 8));
        var single = await rig.Engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(seed: 7)) { Workflow = Workflow("single"), BackendAffinity = Backend }, Token);
        var group = await rig.Engine.SubmitGroupAsync(
            new JobGroupSubmission(EngineRig.Prompt(seed: 8), [Backend, Backend, Backend], [1, 2, 3]) { Workflow = Workflow("group") }, Token);
        var children = group.Group.ChildJobIds;

        // Act
        var stored = await StoredAsync(rig, single.JobId, group.Group.JobGroupId, children);
        var dispatched = await rig.Scheduler.RunPassAsync(Token);
        var commands = await CommandsAsync(rig);

        // Assert: one copy for the single job, one for the whole group, none in any record
        Assert.NotNull(stored.SinglePrompt);
        Assert.NotNull(stored.GroupPrompt);
        Assert.All(stored.ChildPrompts, Assert.Null);
        Assert.All(stored.Records, record => Assert.False(record.ContainsKey("prompt") || record.ContainsKey("workflow"), record.ToJsonString()));

        // Assert: every command carries its job's prompt and workflow
        Assert.Equal(4, dispatched);
        Assert.Equal(4, commands.Count);
        AssertSent(commands[single.JobId], EngineRig.Prompt(seed: 7), "single");
        Assert.All(children, child => AssertSent(commands[child], EngineRig.Prompt(seed: 8), "group"));
    }

    [Fact]
    public async Task AJobStoredWithItsPromptInItsRecordIsSentWithItAndTheDispatchMovesThePromptOut()
    {
        // Arrange: a single job and a group stored as before prompts were kept apart (in every record, nowhere else)
        await using var rig = await CountedJobService.StartAsync((Backend, 8));
        var single = await rig.Engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(seed: 17)) { Workflow = Workflow("single"), BackendAffinity = Backend }, Token);
        var group = await rig.Engine.SubmitGroupAsync(
            new JobGroupSubmission(EngineRig.Prompt(seed: 18), [Backend, Backend], [1, 2]) { Workflow = Workflow("group") }, Token);
        var groupId = group.Group.JobGroupId;
        var children = group.Group.ChildJobIds;
        await EmbedAsync(rig, single.JobId, JobKeys.Job(single.JobId), EngineRig.Prompt(seed: 17), Workflow("single"));
        foreach (var child in children)
        {
            await EmbedAsync(rig, child, JobKeys.Group(groupId), EngineRig.Prompt(seed: 18), Workflow("group"));
        }

        var before = await StoredAsync(rig, single.JobId, groupId, children);

        // Act
        var dispatched = await rig.Scheduler.RunPassAsync(Token);
        var commands = await CommandsAsync(rig);
        var after = await StoredAsync(rig, single.JobId, groupId, children);

        // Assert: sent with the prompts their records held
        Assert.Null(before.SinglePrompt);
        Assert.Null(before.GroupPrompt);
        Assert.All(before.Records, record => Assert.True(record.ContainsKey("prompt")));
        Assert.Equal(3, dispatched);
        AssertSent(commands[single.JobId], EngineRig.Prompt(seed: 17), "single");
        Assert.All(children, child => AssertSent(commands[child], EngineRig.Prompt(seed: 18), "group"));

        // Assert: the dispatch's change moved them where prompts are kept now
        Assert.True(JsonNode.DeepEquals(EngineRig.Prompt(seed: 17), JsonNode.Parse(after.SinglePrompt!)!["prompt"]));
        Assert.True(JsonNode.DeepEquals(EngineRig.Prompt(seed: 18), JsonNode.Parse(after.GroupPrompt!)!["prompt"]));
        Assert.All(after.Records, record => Assert.False(record.ContainsKey("prompt") || record.ContainsKey("workflow"), record.ToJsonString()));
    }

    [Fact]
    public async Task AJobWhosePromptIsGoneFailsInsteadOfSendingAnEmptyOne()
    {
        // Arrange
        await using var rig = await CountedJobService.StartAsync((Backend, 8));
        var lost = await rig.Engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(seed: 27)) { BackendAffinity = Backend }, Token);
        var kept = await rig.Engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(seed: 28)) { BackendAffinity = Backend }, Token);
        await rig.Get<IRedisConnection>().HashDeleteAsync(JobKeys.Job(lost.JobId), "prompt", Token);

        // Act
        await rig.Scheduler.RunPassAsync(Token);
        var commands = await CommandsAsync(rig);
        var failed = await rig.Engine.GetJobAsync(lost.JobId, Token);

        // Assert
        Assert.Equal([kept.JobId], commands.Keys);
        Assert.Equal(JobStatuses.Failed, failed!.Status);
        Assert.Equal(JobErrorTypes.PromptLost, failed.ErrorType);
        Assert.Equal([kept.JobId], await rig.Store.AssignedJobIdsAsync(Backend, Token));
    }

    private static void AssertSent(RunPromptCommand command, JsonObject prompt, string workflow)
    {
        Assert.True(JsonNode.DeepEquals(prompt, command.Prompt), command.Prompt.ToJsonString());
        Assert.Equal(workflow, (string?)command.Workflow?["extra"]);
    }

    /// <summary>Rewrites the job's record with the prompt and workflow inside, and removes the prompt from
    /// <paramref name="holder"/>: the layout of a job stored before prompts were kept apart.</summary>
    private static async Task EmbedAsync(CountedJobService rig, string jobId, string holder, JsonObject prompt, JsonObject workflow)
    {
        var redis = rig.Get<IRedisConnection>();
        var record = JsonNode.Parse((await redis.HashGetAsync(JobKeys.Job(jobId), "record", Token))!)!.AsObject();
        record["prompt"] = prompt;
        record["workflow"] = workflow;
        await redis.HashSetAsync(JobKeys.Job(jobId), "record", record.ToJsonString(), Token);
        await redis.HashDeleteAsync(holder, "prompt", Token);
    }

    private static async Task<(string? SinglePrompt, string? GroupPrompt, IReadOnlyList<string?> ChildPrompts, IReadOnlyList<JsonObject> Records)> StoredAsync(
        CountedJobService rig, string singleId, string groupId, IReadOnlyList<string> children)
    {
        var redis = rig.Get<IRedisConnection>();
        var records = new List<JsonObject>();
        foreach (var id in children.Prepend(singleId))
        {
            records.Add(JsonNode.Parse((await redis.HashGetAsync(JobKeys.Job(id), "record", Token))!)!.AsObject());
        }

        var childPrompts = new List<string?>();
        foreach (var child in children)
        {
            childPrompts.Add(await redis.HashGetAsync(JobKeys.Job(child), "prompt", Token));
        }

        return (await redis.HashGetAsync(JobKeys.Job(singleId), "prompt", Token), await redis.HashGetAsync(JobKeys.Group(groupId), "prompt", Token),
            childPrompts, records);
    }

    /// <summary>Every command waiting on the backend's queue, by job id.</summary>
    private static async Task<Dictionary<string, RunPromptCommand>> CommandsAsync(CountedJobService rig) =>
        (await rig.ReceiveCommandsAsync(Backend)).ToDictionary(c => c.JobId!, StringComparer.Ordinal);
}
