extern alias backend;
using System.Globalization;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;
using BackendProgram = backend::Program;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// A private Garnet, two ComfyUI emulators as processes (<c>emu-0</c>, <c>emu-1</c>, with the given
/// max_concurrent_jobs), a real BackendService in memory dispatching to them, and JobService replicas in memory whose
/// engine tests drive directly and whose API and WebSockets the API tests call (short scheduler and reconcile
/// intervals; the scheduler lease as configured by default).
/// </summary>
public sealed class EngineRig : IAsyncDisposable
{
    private readonly RedisConnection _redis;
    private readonly IReadOnlyDictionary<string, string?> _serviceSettings;

    private EngineRig(
        RedisServerProcess garnet, IReadOnlyList<ComfyEmulatorProcess> emulators, ServiceFactory<BackendProgram> backendService,
        IReadOnlyDictionary<string, string?> serviceSettings)
    {
        _serviceSettings = serviceSettings;
        Garnet = garnet;
        Emulators = emulators;
        BackendService = backendService;
        _redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString, CommitWrites = garnet.ClientsCommitWrites });
    }

    public RedisServerProcess Garnet { get; }

    public IReadOnlyList<ComfyEmulatorProcess> Emulators { get; }

    public ServiceFactory<BackendProgram> BackendService { get; }

    public List<ServiceFactory<Program>> JobReplicas { get; } = [];

    /// <summary>A Redis client of the test's own, outliving any replica.</summary>
    public IRedisConnection Redis => _redis;

    public static string BackendId(int index) => $"emu-{index.ToString(CultureInfo.InvariantCulture)}";

    public static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <param name="garnetDataDirectory">Where Garnet keeps its append-only file and checkpoints; null keeps nothing.</param>
    /// <param name="serviceSettings">Settings given to BackendService and every JobService replica as well.</param>
    public static async Task<EngineRig> StartAsync(
        IReadOnlyList<int> maxConcurrentJobs, int jobReplicas = 1, string? garnetDataDirectory = null,
        IReadOnlyDictionary<string, string?>? serviceSettings = null)
    {
        serviceSettings ??= new Dictionary<string, string?>();
        var garnet = await RedisServerProcess.StartGarnetAsync(garnetDataDirectory, Token);
        var nodes = await Task.WhenAll(maxConcurrentJobs.Select(_ => ComfyEmulatorProcess.StartAsync(["--step-delay-ms", "5"], Token)));
        var settings = new Dictionary<string, string?>
        {
            ["Redis:CommitWrites"] = garnet.ClientsCommitWrites ? "true" : "false",
            ["Backends:Probe:Interval"] = "00:00:00.3",
            ["Backends:Probe:Timeout"] = "00:00:01",
            ["Backends:Leases:Ttl"] = "00:00:03",
            ["Backends:Leases:RenewalInterval"] = "00:00:01",
            ["Backends:Dispatch:HealthCheckInterval"] = "00:00:00.2",
            ["Backends:Dispatch:ReconcileInterval"] = "00:00:02",
            ["Backends:Dispatch:OfflineGrace"] = "00:00:03",
            ["Backends:Dispatch:RequestTimeout"] = "00:00:03",
            ["Backends:Dispatch:BackendVisibilityTimeout"] = "00:00:08",
            ["Backends:Dispatch:IntakePollInterval"] = "00:00:00.05",
            ["Backends:Dispatch:PostRetryDelay"] = "00:00:00.2",
        };
        for (var i = 0; i < nodes.Length; i++)
        {
            var prefix = $"backends:{i.ToString(CultureInfo.InvariantCulture)}:";
            settings[prefix + "id"] = BackendId(i);
            settings[prefix + "host"] = "127.0.0.1";
            settings[prefix + "port"] = nodes[i].Port.ToString(CultureInfo.InvariantCulture);
            settings[prefix + "max_concurrent_jobs"] = maxConcurrentJobs[i].ToString(CultureInfo.InvariantCulture);
        }

        foreach (var (key, value) in serviceSettings)
        {
            settings[key] = value;
        }

        var backendService = new ServiceFactory<BackendProgram>(garnet.ConnectionString, settings);
        _ = backendService.Services; // starts the host
        var rig = new EngineRig(garnet, nodes, backendService, serviceSettings);
        for (var i = 0; i < jobReplicas; i++)
        {
            rig.AddJobReplica();
        }

        await rig.WaitUntilOnlineAsync(nodes.Length);
        return rig;
    }

    /// <summary>Starts a JobService replica; <paramref name="redisConnectionString"/> lets it reach Redis another way
    /// (through a <see cref="TcpRelay"/>).</summary>
    public ServiceFactory<Program> AddJobReplica(string? redisConnectionString = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Redis:CommitWrites"] = Garnet.ClientsCommitWrites ? "true" : "false",
            ["Jobs:SchedulerInterval"] = "00:00:00.2",
            ["Jobs:ReconcileInterval"] = "00:00:01",
            ["Jobs:TimeoutCheckInterval"] = "00:00:00.2",
            ["Jobs:DispatchRecoveryAfter"] = "00:00:03",
            ["Jobs:StreamPollInterval"] = "00:00:00.5",
            ["Jobs:OfflineBackendGrace"] = "00:00:10",
            // Every job one prompt ahead, as the default prefetch has it: the strict priority order of
            // TwentyJobsOnABusyBackendRunInPriorityOrder holds only while a node holds one waiting prompt (a pinned prefetch
            // posts the first jobs submitted before better ones arrive). PrefetchTests covers the pinned prefetch.
            ["Jobs:PinnedPrefetch"] = "0",
        };
        foreach (var (key, value) in _serviceSettings)
        {
            settings[key] = value;
        }

        var replica = new ServiceFactory<Program>(redisConnectionString ?? Garnet.ConnectionString, settings);
        _ = replica.Services; // starts the host
        JobReplicas.Add(replica);
        return replica;
    }

    public HttpClient Client(int replica = 0) => JobReplicas[replica].CreateClient();

    /// <summary>Opens a WebSocket to a JobService replica (in memory, through its test server).</summary>
    public Task<System.Net.WebSockets.WebSocket> ConnectAsync(string pathAndQuery, int replica = 0) =>
        JobReplicas[replica].Server.CreateWebSocketClient().ConnectAsync(new Uri($"ws://localhost{pathAndQuery}"), Token);

    public T Get<T>(int replica = 0)
        where T : notnull => JobReplicas[replica].Services.GetRequiredService<T>();

    public IJobEngine Engine(int replica = 0) => Get<IJobEngine>(replica);

    public RedisJobEventStream Streams(int replica = 0) => Get<RedisJobEventStream>(replica);

    /// <summary>TestProgressImage → SaveImage.</summary>
    public static JsonObject Prompt(int steps = 4, int delayMs = 20, long seed = 1) => new()
    {
        ["1"] = new JsonObject
        {
            ["class_type"] = "TestProgressImage",
            ["inputs"] = new JsonObject { ["steps"] = steps, ["delay_ms"] = delayMs, ["seed"] = seed, ["width"] = 16, ["height"] = 16 },
        },
        ["2"] = new JsonObject
        {
            ["class_type"] = "SaveImage",
            ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = "t" },
        },
    };

    public async Task<JobRecord> WaitForJobAsync(string jobId, Func<JobRecord, bool> condition, TimeSpan? timeout = null, int replica = 0)
    {
        var engine = Engine(replica);
        var job = await Eventually.ReturnsAsync(() => engine.GetJobAsync(jobId, Token), j => j is not null && condition(j), timeout ?? TimeSpan.FromSeconds(30));
        Assert.True(job is not null && condition(job), $"Job {jobId} did not get there; it is {job?.Status} ({job?.ErrorType}: {job?.ErrorMessage}) on {job?.BackendId}");
        return job!;
    }

    public Task<JobRecord> WaitForEndAsync(string jobId, TimeSpan? timeout = null, int replica = 0) =>
        WaitForJobAsync(jobId, j => JobStatuses.IsFinal(j.Status), timeout, replica);

    public async Task<JobGroupView> WaitForGroupEndAsync(string groupId, TimeSpan? timeout = null, int replica = 0)
    {
        var engine = Engine(replica);
        var group = await Eventually.ReturnsAsync(() => engine.GetGroupAsync(groupId, Token), g => g?.Group.CompletedAt is not null, timeout ?? TimeSpan.FromSeconds(60));
        Assert.True(group?.Group.CompletedAt is not null,
            $"Group {groupId} did not end: {group?.Group.Status}; children {string.Join(", ", group?.Children.Select(c => $"{c.JobId} {c.Status} on {c.BackendId}") ?? [])}");
        return group!;
    }

    /// <summary>The prompt ids in the emulator's /history.</summary>
    public async Task<IReadOnlyList<string>> HistoryAsync(int emulator)
    {
        var history = JsonNode.Parse(await Emulators[emulator].Client.GetStringAsync("history", Token))!.AsObject();
        return history.Select(p => p.Key).ToList();
    }

    /// <summary>The prompt ids running or pending on the emulator.</summary>
    public async Task<IReadOnlyList<string>> QueueAsync(int emulator)
    {
        var queue = JsonNode.Parse(await Emulators[emulator].Client.GetStringAsync("queue", Token))!;
        return queue["queue_running"]!.AsArray().Concat(queue["queue_pending"]!.AsArray())
            .Select(item => (string)item!.AsArray()[1]!)
            .ToList();
    }

    public async Task PostControlAsync(int emulator, string route, string? json = null)
    {
        using var content = json is null ? null : new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await Emulators[emulator].Client.PostAsync("_emulator/" + route, content, Token);
        response.EnsureSuccessStatusCode();
    }

    private async Task WaitUntilOnlineAsync(int count)
    {
        var directory = new BackendDirectory(_redis, Microsoft.Extensions.Logging.Abstractions.NullLogger<BackendDirectory>.Instance);
        var backends = await Eventually.ReturnsAsync(() => directory.ListAsync(Token), list => list.Count(b => b.Online) == count, TimeSpan.FromSeconds(60));
        Assert.True(backends.Count(b => b.Online) == count, $"The emulated backends did not come online: {string.Join(", ", backends.Select(b => $"{b.Definition.Id} {b.State?.Status}"))}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in JobReplicas)
        {
            await replica.DisposeAsync();
        }

        await BackendService.DisposeAsync();
        foreach (var emulator in Emulators)
        {
            await emulator.DisposeAsync();
        }

        await _redis.DisposeAsync();
        await Garnet.DisposeAsync();
    }
}

/// <summary>One rig for the tests of a class that leave the nodes as they found them: emu-0 takes 2 jobs at a time, emu-1 one.</summary>
public sealed class SharedEngineRig : IAsyncLifetime
{
    private EngineRig? _rig;

    public EngineRig Rig => _rig ?? throw new InvalidOperationException("The rig has not started.");

    public async ValueTask InitializeAsync() => _rig = await EngineRig.StartAsync([2, 1], jobReplicas: 2);

    public async ValueTask DisposeAsync()
    {
        if (_rig is not null)
        {
            await _rig.DisposeAsync();
        }
    }
}
