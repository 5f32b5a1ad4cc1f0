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
/// A JobService on a private Garnet whose scripts are counted and can be held (<see cref="ScriptCounter"/>), whose own
/// scheduler never runs (the test holds the scheduler's lease, and runs passes itself), over backends written into
/// Redis as BackendService writes them, online, with nothing reading their queues and no node rendering.
/// </summary>
public sealed class CountedJobService : IAsyncDisposable
{
    private readonly RedisServerProcess _garnet;
    private readonly ServiceFactory<Program> _service;

    private CountedJobService(RedisServerProcess garnet, ServiceFactory<Program> service)
    {
        _garnet = garnet;
        _service = service;
    }

    private static CancellationToken Token => TestContext.Current.CancellationToken;

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
    public static async Task<CountedJobService> StartAsync(params (string Id, int Slots)[] backends)
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
        return new CountedJobService(garnet, service);
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

    /// <summary>Reads of job hashes (<c>HMGET dc:job:…</c>) sent so far.</summary>
    public int JobReads => Scripts.CountCommands(command => command[0] == "HMGET" && command[1].StartsWith(JobKeys.Job(""), StringComparison.Ordinal));

    /// <summary>Submits <paramref name="count"/> jobs with an affinity to <paramref name="backendId"/>, a hundred at a time.</summary>
    public async Task SubmitManyAsync(string backendId, int count)
    {
        foreach (var chunk in Enumerable.Range(0, count).Chunk(100))
        {
            await Task.WhenAll(chunk.Select(i => Engine.SubmitJobAsync(
                new JobSubmission(EngineRig.Prompt(seed: 1_000 + i)) { BackendAffinity = backendId }, Token)));
        }
    }

    /// <summary>Every command waiting on the backend's queue: (prompt id, job id), ordered.</summary>
    public async Task<IReadOnlyList<(string?, string)>> CommandsAsync(string backendId) =>
        (await ReceiveCommandsAsync(backendId)).Select(c => ((string?)c.PromptId, c.JobId!)).Order().ToList();

    /// <summary>Takes every command waiting on the backend's queue, in queue order.</summary>
    public async Task<IReadOnlyList<RunPromptCommand>> ReceiveCommandsAsync(string backendId)
    {
        var queue = Get<IDurableQueue>();
        var commands = new List<RunPromptCommand>();
        while (await queue.TryReceiveAsync<RunPromptCommand>(RenderChannels.BackendQueue(backendId), TimeSpan.FromMinutes(1), Token) is { } delivery)
        {
            commands.Add(delivery.Message);
        }

        return commands;
    }

    public T Get<T>()
        where T : notnull => _service.Services.GetRequiredService<T>();

    public async ValueTask DisposeAsync()
    {
        await _service.DisposeAsync();
        await _garnet.DisposeAsync();
    }
}
