using DirectorsConsole.ServiceDefaults.Configuration;
using DirectorsConsole.ServiceDefaults.Durability;
using DirectorsConsole.Messaging;
using DirectorsConsole.Messaging.Durability;
using DirectorsConsole.Testing;
using DirectorsConsole.ServiceDefaults.Tests.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Tests.Durability;

/// <summary>The write gate, the client's refusal of writes while it is closed, and the monitor's reading of each
/// server's persistence report, against a scripted client that answers what a real server reports when its disk is
/// full.</summary>
public sealed class DurabilityGuardTests(RedisTestServers Servers)
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WhileTheGateIsClosedWritesAreRefusedWithoutBeingSentAndReadsStillAre()
    {
        var server = await Servers.GetAsync(RedisServerKind.Garnet);
        var key = RedisTestServers.UniqueName("gate");
        var gate = new DurabilityGate(TimeProvider.System);
        await using var redis = new RedisConnection(RedisTestServers.Options(server.ConnectionString), durability: gate);
        await redis.StringSetAsync(key, "v", cancellationToken: Token);

        gate.Close("No space left on device");
        var notSent = await Assert.ThrowsAsync<RedisNotDurableException>(() => redis.HashSetAsync(key + ":h", "f", "v", Token));
        var script = await Assert.ThrowsAsync<RedisNotDurableException>(() => redis.ScriptEvaluateAsync("return 1", [], [], Token));
        var read = await redis.StringGetAsync(key, Token);

        Assert.Contains("HSET was not sent", notSent.Message);
        Assert.Contains("No space left on device", script.Message);
        Assert.Equal("v", read);
        Assert.False(await redis.KeyExistsAsync(key + ":h", Token));
    }

    [Fact]
    public async Task RedisAppendOnlyFileErrorClosesTheGateUntilItIsOkAndSaved()
    {
        var report = "aof_enabled:1\r\naof_last_write_status:err\r\n";
        var redis = new ScriptedRedisConnection(command => command[0] switch
        {
            "INFO" => "# Persistence\r\n" + Volatile.Read(ref report),
            "CONFIG" => ScriptedRedisConnection.EmptyArray,
            _ => "OK",
        });
        var received = redis.Received;
        var (gate, monitor) = Create(redis);

        await monitor.ProbeOnceAsync(Token);
        Assert.Contains("aof_last_write_status:err", gate.Fault?.Cause);
        Assert.DoesNotContain("SAVE", received);

        Volatile.Write(ref report, "aof_enabled:1\r\naof_last_write_status:ok\r\n");
        await monitor.ProbeOnceAsync(Token);

        Assert.True(gate.IsOpen);
        Assert.Equal("SAVE", received[^1]);
    }

    [Fact]
    public async Task GarnetAppendOnlyFileThatStopsCommittingClosesTheGate()
    {
        // What Garnet 2.2.8 reports after a failed commit: the committed address stays put, the tail moves on.
        var reports = new Queue<string>(["CommittedUntilAddress:300\r\nTailAddress:300\r\n", "CommittedUntilAddress:300\r\nTailAddress:900\r\n",
            "CommittedUntilAddress:300\r\nTailAddress:950\r\n", "CommittedUntilAddress:300\r\nTailAddress:990\r\n",
            "CommittedUntilAddress:300\r\nTailAddress:999\r\n", "CommittedUntilAddress:300\r\nTailAddress:1010\r\n",
            "CommittedUntilAddress:300\r\nTailAddress:1020\r\n"]);
        var (gate, monitor) = Create(new ScriptedRedisConnection(command => command[0] switch
        {
            "INFO" => "# Persistence_DB_0\r\n" + reports.Dequeue() + "rdb_last_bgsave_status:ok\r\n",
            "CONFIG" => ScriptedRedisConnection.EmptyArray,
            _ => "-ERR checkpoint failed, check server logs",
        }));

        for (var probe = 1; probe <= 6; probe++)
        {
            await monitor.ProbeOnceAsync(Token);
            Assert.True(gate.IsOpen); // a commit may lag a few probes behind writes that just arrived (or a starved server)
        }

        await monitor.ProbeOnceAsync(Token);

        Assert.Contains("Garnet stopped committing its append-only file at address 300", gate.Fault?.Cause);
    }

    [Fact]
    public void ProbeIntervalAndThresholdAreValidated()
    {
        var result = new DurabilityOptionsValidator().Validate(null, new DurabilityOptions { ProbeInterval = TimeSpan.Zero, MinFreeMegabytes = -1 });

        Assert.True(result.Failed);
        Assert.Contains("ProbeInterval", result.FailureMessage);
        Assert.Contains("MinFreeMegabytes", result.FailureMessage);
    }

    private static (DurabilityGate Gate, RedisDurabilityMonitor Monitor) Create(IRedisConnection redis)
    {
        var gate = new DurabilityGate(TimeProvider.System);
        var monitor = new RedisDurabilityMonitor(redis, gate, Options.Create(new DurabilityOptions()),
            Options.Create(new OrchestratorOptions { DataDir = Path.Combine(Path.GetTempPath(), "dc-no-such-data-dir") }),
            TimeProvider.System, NullLogger<RedisDurabilityMonitor>.Instance);
        return (gate, monitor);
    }
}
