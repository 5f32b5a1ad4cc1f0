using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>
/// A private Garnet, ComfyUI emulators as processes (backends <c>emu-0</c>, <c>emu-1</c>… seeded from config), and
/// BackendService replicas in memory on that Garnet, with short probe, lease and dispatch intervals. Commands are
/// enqueued and events collected through a Redis client of the test's own, so they outlive any replica.
/// </summary>
public sealed class DispatchRig : IAsyncDisposable
{
    private readonly RedisServerProcess _garnet;
    private readonly RedisConnection _redis;
    private readonly RedisSubscriber _subscriber;
    private readonly IAsyncDisposable _subscription;
    private readonly int _maxConcurrentJobs;

    private DispatchRig(RedisServerProcess garnet, RedisConnection redis, RedisSubscriber subscriber, IEventBus bus, IAsyncDisposable subscription,
        RenderEventLog events, IReadOnlyList<ComfyEmulatorProcess> emulators, int maxConcurrentJobs)
    {
        _garnet = garnet;
        _redis = redis;
        _subscriber = subscriber;
        _subscription = subscription;
        _maxConcurrentJobs = maxConcurrentJobs;
        Bus = bus;
        Events = events;
        Emulators = emulators;
        Queue = new RedisDurableQueue(redis, subscriber, NullLogger<RedisDurableQueue>.Instance, TimeProvider.System);
    }

    public IEventBus Bus { get; }

    public IDurableQueue Queue { get; }

    public IRedisConnection Redis => _redis;

    public RenderEventLog Events { get; }

    public IReadOnlyList<ComfyEmulatorProcess> Emulators { get; }

    public List<ServiceFactory<Program>> Replicas { get; } = [];

    public static string BackendId(int index) => $"emu-{index.ToString(CultureInfo.InvariantCulture)}";

    public static async Task<DispatchRig> StartAsync(int emulators = 1, int replicas = 1, int maxConcurrentJobs = 1, IReadOnlyList<string>? emulatorOptions = null)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var garnet = await RedisServerProcess.StartGarnetAsync(cancellationToken: cancellationToken);
        var options = new RedisOptions { ConnectionString = garnet.ConnectionString };
        var redis = new RedisConnection(options);
        var subscriber = new RedisSubscriber(options);
        var bus = new RedisEventBus(redis, subscriber, NullLogger<RedisEventBus>.Instance, TimeProvider.System);
        var events = new RenderEventLog();
        var subscription = await bus.SubscribeAsync<RenderEvent>(RenderChannels.RenderEvents, events.AddAsync, cancellationToken: cancellationToken);
        var nodes = await Task.WhenAll(Enumerable.Range(0, emulators).Select(_ => ComfyEmulatorProcess.StartAsync(emulatorOptions ?? ["--step-delay-ms", "20"], cancellationToken)));
        var rig = new DispatchRig(garnet, redis, subscriber, bus, subscription, events, nodes, maxConcurrentJobs);
        for (var i = 0; i < replicas; i++)
        {
            rig.AddReplica();
        }

        foreach (var index in Enumerable.Range(0, replicas > 0 ? emulators : 0))
        {
            await rig.WaitUntilOnlineAsync(BackendId(index));
        }

        return rig;
    }

    /// <summary>Starts a replica. <paramref name="instanceId"/> is its service instance id, as the AppHost gives
    /// one (<c>backend-service-0</c>); <paramref name="overrides"/> replace the rig's short intervals;
    /// <paramref name="configureServices"/> replaces services of the replica (a Redis connection that fails on cue).</summary>
    public ServiceFactory<Program> AddReplica(
        string? instanceId = null, IReadOnlyDictionary<string, string?>? overrides = null, Action<IServiceCollection>? configureServices = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Backends:Probe:Interval"] = "00:00:00.5",
            ["Backends:Probe:Timeout"] = "00:00:01",
            ["Backends:Leases:Ttl"] = "00:00:03",
            ["Backends:Leases:RenewalInterval"] = "00:00:01",
            ["Backends:Dispatch:HealthCheckInterval"] = "00:00:00.2",
            ["Backends:Dispatch:ReconcileInterval"] = "00:00:02",
            ["Backends:Dispatch:OfflineGrace"] = "00:00:05",
            ["Backends:Dispatch:RequestTimeout"] = "00:00:05",
            ["Backends:Dispatch:BackendVisibilityTimeout"] = "00:00:08",
            ["Backends:Dispatch:PostRetryDelay"] = "00:00:00.2",
        };
        for (var i = 0; i < Emulators.Count; i++)
        {
            var prefix = $"backends:{i.ToString(CultureInfo.InvariantCulture)}:";
            settings[prefix + "id"] = BackendId(i);
            settings[prefix + "host"] = "127.0.0.1";
            settings[prefix + "port"] = Emulators[i].Port.ToString(CultureInfo.InvariantCulture);
            settings[prefix + "max_concurrent_jobs"] = _maxConcurrentJobs.ToString(CultureInfo.InvariantCulture);
        }

        if (instanceId is not null)
        {
            settings["OTEL_SERVICE_INSTANCE_ID"] = instanceId;
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        var factory = new ServiceFactory<Program>(_garnet.ConnectionString, settings, configureServices);
        _ = factory.Services; // starts the host
        Replicas.Add(factory);
        return factory;
    }

    /// <summary>Ends a replica as a crash would for everyone else: its Redis connections go first, so it can neither
    /// release its leases nor report anything, then the rest of it stops.</summary>
    public async Task CrashReplicaAsync(ServiceFactory<Program> replica)
    {
        Replicas.Remove(replica);
        await replica.Services.GetRequiredService<RedisConnection>().DisposeAsync();
        await replica.Services.GetRequiredService<RedisSubscriber>().DisposeAsync();
        await replica.DisposeAsync();
    }

    public async Task WaitUntilOnlineAsync(string backendId)
    {
        var states = Replicas[0].Services.GetRequiredService<BackendStateStore>();
        var state = await Eventually.ReturnsAsync(
            () => states.GetAsync(backendId, TestContext.Current.CancellationToken), s => s?.Online == true, TimeSpan.FromSeconds(30));
        Assert.True(state?.Online, $"Backend {backendId} did not come online: {state?.Status} {state?.LastError}");
    }

    /// <summary>Enqueues a command as JobService's scheduler does: on the queue of the backend it chose (<c>emu-0</c>
    /// unless told), keyed by the prompt id.</summary>
    public async Task<RunPromptCommand> EnqueueAsync(JsonObject prompt, string? backendId = null, long? seed = null, string? jobId = null)
    {
        var command = Command(prompt, backendId ?? BackendId(0), seed, jobId);
        await Queue.EnqueueAsync(RenderChannels.BackendQueue(command.BackendId!), command, command.PromptId, TestContext.Current.CancellationToken);
        return command;
    }

    public static RunPromptCommand Command(JsonObject prompt, string? backendId, long? seed = null, string? jobId = null) =>
        new(Guid.NewGuid().ToString(), jobId ?? "job-" + Guid.NewGuid().ToString("N")[..8], backendId, prompt, DateTimeOffset.UtcNow)
        {
            Seed = seed,
            Workflow = new JsonObject { ["nodes"] = new JsonArray(), ["links"] = new JsonArray(), ["version"] = 0.4 },
        };

    /// <summary>Asks for a prompt's cancel as JobService does: the flag a worker checks before it
    /// posts the prompt, then the event the replica holding the backend's lease acts on.</summary>
    public async Task RequestCancelAsync(string promptId)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await Redis.StringSetAsync(RenderChannels.CancelKey(promptId), "1", TimeSpan.FromDays(1), cancellationToken: cancellationToken);
        await Bus.PublishAsync(RenderChannels.CancelRequests, new CancelPromptRequested(promptId, null, DateTimeOffset.UtcNow), cancellationToken);
    }

    /// <summary>TestProgressImage → SaveImage, as in progress_success.jsonl.</summary>
    public static JsonObject ProgressWorkflow(int steps, int delayMs, long seed = 1, bool fail = false) => new()
    {
        ["1"] = new JsonObject
        {
            ["class_type"] = "TestProgressImage",
            ["inputs"] = new JsonObject { ["steps"] = steps, ["delay_ms"] = delayMs, ["seed"] = seed, ["width"] = 32, ["height"] = 24, ["fail"] = fail },
        },
        ["2"] = new JsonObject
        {
            ["class_type"] = "SaveImage",
            ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = "dispatch/run" },
        },
    };

    /// <summary>What a failed test needs to find where a prompt stopped: each command's events, its state in Redis,
    /// the backends' in-flight hashes and leases, the nodes' queues and histories, and every replica's log lines
    /// that name a prompt without a final event (or warn).</summary>
    public async Task<string> DescribeAsync(IEnumerable<RunPromptCommand> commands)
    {
        var cancellationToken = CancellationToken.None;
        var text = new System.Text.StringBuilder();
        var unfinished = new List<string>();
        foreach (var command in commands)
        {
            var events = Events.For(command.PromptId);
            if (!events.Any(e => RenderEventKinds.IsFinal(e.Kind)))
            {
                unfinished.Add(command.PromptId);
            }

            var state = await _redis.HashGetAllAsync(RenderChannels.PromptStateKey(command.PromptId), cancellationToken);
            text.AppendLine(CultureInfo.InvariantCulture,
                $"prompt {command.PromptId} on {command.BackendId}: events [{string.Join(", ", events.Select(e => $"{e.Kind}@{e.BackendId}"))}]; state {{{string.Join(", ", state.Select(f => $"{f.Key}={(f.Key == "event" ? f.Value.Length + " chars" : f.Value)}"))}}}");
        }

        for (var i = 0; i < Emulators.Count; i++)
        {
            var inFlight = await _redis.HashGetAllAsync(BackendKeys.InFlight(BackendId(i)), cancellationToken);
            var lease = await _redis.StringGetAsync(BackendKeys.Lease(BackendId(i)), cancellationToken);
            text.AppendLine(CultureInfo.InvariantCulture, $"{BackendId(i)}: lease {lease}; in flight [{string.Join(", ", inFlight.Keys)}]");
            try
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  queue {await Emulators[i].Client.GetStringAsync("queue", cancellationToken)}");
                var history = JsonNode.Parse(await Emulators[i].Client.GetStringAsync("history", cancellationToken))!.AsObject();
                text.AppendLine(CultureInfo.InvariantCulture, $"  history [{string.Join(", ", history.Select(h => h.Key))}]");
            }
            catch (HttpRequestException ex)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  node unreachable: {ex.Message}");
            }
        }

        foreach (var replica in Replicas)
        {
            foreach (var file in Directory.Exists(replica.LogDirectory) ? Directory.GetFiles(replica.LogDirectory) : [])
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"--- {file}");
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var reader = new StreamReader(stream);
                while (await reader.ReadLineAsync(cancellationToken) is { } line)
                {
                    if (unfinished.Any(line.Contains) || line.Contains("warn", StringComparison.OrdinalIgnoreCase)
                        || line.Contains("fail", StringComparison.OrdinalIgnoreCase) || line.Contains("lease", StringComparison.OrdinalIgnoreCase))
                    {
                        text.AppendLine(line);
                    }
                }
            }
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in Replicas)
        {
            await replica.DisposeAsync();
        }

        foreach (var emulator in Emulators)
        {
            await emulator.DisposeAsync();
        }

        await _subscription.DisposeAsync();
        await _subscriber.DisposeAsync();
        await _redis.DisposeAsync();
        await _garnet.DisposeAsync();
    }
}

/// <summary>Every render event seen on the channel, in arrival order.</summary>
public sealed class RenderEventLog
{
    private readonly ConcurrentQueue<RenderEvent> _events = new();

    public Task AddAsync(RenderEvent renderEvent, CancellationToken cancellationToken)
    {
        _events.Enqueue(renderEvent);
        return Task.CompletedTask;
    }

    public IReadOnlyList<RenderEvent> For(string promptId) => _events.Where(e => e.PromptId == promptId).ToList();

    /// <summary>Every event so far, in arrival order.</summary>
    public IReadOnlyList<RenderEvent> All => [.. _events];

    /// <summary>Waits for the prompt's final event (or the event of <paramref name="kind"/>).</summary>
    public async Task<RenderEvent> WaitForAsync(string promptId, string? kind = null, TimeSpan? timeout = null)
    {
        var found = await Eventually.ReturnsAsync(
            () => Task.FromResult(For(promptId).FirstOrDefault(e => kind is null ? RenderEventKinds.IsFinal(e.Kind) : e.Kind == kind)),
            e => e is not null,
            timeout ?? TimeSpan.FromSeconds(30));
        Assert.True(found is not null, $"No {kind ?? "final"} event for prompt {promptId}; saw: {string.Join(", ", For(promptId).Select(e => e.Kind))}");
        return found;
    }
}
