using System.Text.Json;
using DirectorsConsole.Contracts;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// One scheduler pass makes its dispatches with three scripts however many they are: one change script claims them all
/// (each change checked on its own), one enqueue sends every command, one change script confirms them. The pass is run
/// by the test on a JobService whose own scheduler never runs (the test holds the scheduler's lease), with the backend
/// registry written into Redis as BackendService writes it and nothing reading the backends' queues.
/// </summary>
public sealed class SchedulerPassTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task APassDispatchingSixJobsClaimsThemWithOneScriptAndSendsTheirCommandsWithOneEnqueue()
    {
        // Arrange: four slots on pass-a, two on pass-b, and seven jobs: four for a, three for b
        await using var rig = await Rig.StartAsync(("pass-a", 4), ("pass-b", 2));
        var forA = await rig.SubmitAsync("pass-a", 4);
        var forB = await rig.SubmitAsync("pass-b", 3);
        var (changesBefore, enqueuesBefore) = (rig.ChangeScripts, rig.Enqueues);

        // Act
        var dispatched = await rig.Scheduler.RunPassAsync(Token);

        // Assert: six dispatched in queue order (b's third waits for a slot), with two change scripts (claim, confirm)
        // and one enqueue
        Assert.Equal(6, dispatched);
        Assert.Equal(2, rig.ChangeScripts - changesBefore);
        Assert.Equal(1, rig.Enqueues - enqueuesBefore);
        var sent = new List<JobRecord>();
        foreach (var job in forA.Concat(forB.Take(2)))
        {
            var stored = await rig.Store.GetJobAsync(job.JobId, Token);
            Assert.Equal(DispatchStates.Sent, stored!.State.Dispatch);
            Assert.Equal(job.BackendAffinity, stored.Record.BackendId);
            Assert.NotNull(stored.Record.PromptId);
            sent.Add(stored.Record);
        }

        var waiting = await rig.Store.GetJobAsync(forB[2].JobId, Token);
        Assert.Equal((JobStatuses.Queued, DispatchStates.None, (string?)null), (waiting!.Record.Status, waiting.State.Dispatch, waiting.Record.PromptId));
        Assert.Equal(sent.Where(j => j.BackendId == "pass-a").Select(j => (j.PromptId, j.JobId)).Order(), await rig.CommandsAsync("pass-a"));
        Assert.Equal(sent.Where(j => j.BackendId == "pass-b").Select(j => (j.PromptId, j.JobId)).Order(), await rig.CommandsAsync("pass-b"));
        Assert.Equal(4, await rig.Store.CountSlotsAsync("pass-a", Token));
        Assert.Equal(2, await rig.Store.CountSlotsAsync("pass-b", Token));
    }

    [Fact]
    public async Task AJobThatChangedWhileThePassClaimedItIsLeftAloneAndTheOthersAreDispatched()
    {
        // Arrange: three jobs for a backend with room for all, and the pass's claim held until one of them is cancelled
        await using var rig = await Rig.StartAsync(("pass-c", 4));
        var jobs = await rig.SubmitAsync("pass-c", 3);
        var claimHeld = rig.Scripts.HoldNext((script, _) => script == JobStore.ChangeScript);
        var pass = rig.Scheduler.RunPassAsync(Token);
        await claimHeld.WaitAsync(Patience, Token);

        // Act
        var cancelled = await rig.Engine.CancelJobAsync(jobs[1].JobId, Token);
        rig.Scripts.Release();
        var dispatched = await pass.WaitAsync(Patience, Token);

        // Assert: the cancelled job stays cancelled, without a prompt, slot or command; the other two went out
        Assert.Equal(JobStatuses.Cancelled, cancelled!.Status);
        Assert.Equal(2, dispatched);
        var after = await rig.Store.GetJobAsync(jobs[1].JobId, Token);
        Assert.Equal((JobStatuses.Cancelled, (string?)null), (after!.Record.Status, after.Record.PromptId));
        var others = new[] { jobs[0], jobs[2] };
        var prompts = new List<(string?, string)>();
        foreach (var job in others)
        {
            var stored = await rig.Store.GetJobAsync(job.JobId, Token);
            Assert.Equal(DispatchStates.Sent, stored!.State.Dispatch);
            prompts.Add((stored.Record.PromptId, job.JobId));
        }

        Assert.Equal(prompts.Order(), await rig.CommandsAsync("pass-c"));
        Assert.Equal(2, await rig.Store.CountSlotsAsync("pass-c", Token));
    }

    private sealed class Rig : IAsyncDisposable
    {
        private readonly RedisServerProcess _garnet;
        private readonly ServiceFactory<Program> _service;

        private Rig(RedisServerProcess garnet, ServiceFactory<Program> service)
        {
            _garnet = garnet;
            _service = service;
        }

        public ScriptCounter Scripts => Get<ScriptCounter>();

        public JobScheduler Scheduler => Get<JobScheduler>();

        public JobStore Store => Get<JobStore>();

        public IJobEngine Engine => Get<IJobEngine>();

        /// <summary>Change scripts sent so far (each a batch of job changes).</summary>
        public int ChangeScripts => Scripts.Count((script, _) => script == JobStore.ChangeScript);

        /// <summary>Scripts sent so far that wrote to a backend's dispatch queue.</summary>
        public int Enqueues => Scripts.Count((_, keys) => keys.Any(k => k.Contains(RenderChannels.BackendQueue(""), StringComparison.Ordinal)));

        /// <summary>A JobService with no scheduler of its own (the test holds its lease) over the given backends
        /// (id, max_concurrent_jobs; no prefetch), online.</summary>
        public static async Task<Rig> StartAsync(params (string Id, int Slots)[] backends)
        {
            var garnet = await RedisServerProcess.StartGarnetAsync(cancellationToken: Token);
            await using (var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString }))
            {
                await redis.ExecuteAsync(["SET", JobKeys.SchedulerLease, "the test", "PX", "600000"], Token);
                foreach (var (id, slots) in backends)
                {
                    var definition = new BackendDefinition(id, id, "127.0.0.1", 1, true, [], slots, [], BackendSource.Api) { Prefetch = 0 };
                    var state = new BackendRuntimeState(id, BackendStatuses.Idle, DateTimeOffset.UtcNow) { LastSeen = DateTimeOffset.UtcNow };
                    await redis.HashSetAsync(BackendDirectoryKeys.Definitions, id, JsonSerializer.Serialize(definition, BackendDirectory.Json), Token);
                    await redis.HashSetAsync(BackendDirectoryKeys.States, id, JsonSerializer.Serialize(state, BackendDirectory.Json), Token);
                }
            }

            var service = new ServiceFactory<Program>(garnet.ConnectionString, configureServices: services =>
            {
                services.AddSingleton(sp => new ScriptCounter(sp.GetRequiredService<RedisConnection>()));
                services.AddSingleton<IRedisConnection>(sp => sp.GetRequiredService<ScriptCounter>());
            });
            _ = service.Services; // starts the host
            return new Rig(garnet, service);
        }

        public async Task<IReadOnlyList<JobRecord>> SubmitAsync(string backendId, int count)
        {
            var jobs = new List<JobRecord>();
            for (var i = 0; i < count; i++)
            {
                jobs.Add(await Engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(seed: i)) { BackendAffinity = backendId }, Token));
            }

            return jobs;
        }

        /// <summary>Every command waiting on the backend's queue: (prompt id, job id), ordered.</summary>
        public async Task<IReadOnlyList<(string?, string)>> CommandsAsync(string backendId)
        {
            var queue = Get<IDurableQueue>();
            var commands = new List<(string?, string)>();
            while (await queue.TryReceiveAsync<RunPromptCommand>(RenderChannels.BackendQueue(backendId), TimeSpan.FromMinutes(1), Token) is { } delivery)
            {
                commands.Add((delivery.Message.PromptId, delivery.Message.JobId!));
            }

            return commands.Order().ToList();
        }

        private T Get<T>()
            where T : notnull => _service.Services.GetRequiredService<T>();

        public async ValueTask DisposeAsync()
        {
            await _service.DisposeAsync();
            await _garnet.DisposeAsync();
        }
    }
}
