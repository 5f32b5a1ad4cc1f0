using DirectorsConsole.ServiceDefaults.Configuration;
using DirectorsConsole.ServiceDefaults.Durability;
using DirectorsConsole.ServiceDefaults.Redis;
using DirectorsConsole.ServiceDefaults.Tests.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Tests.Durability;

/// <summary>The write gate, the monitor's reading of each server's persistence report and the client's refusal of
/// writes, against a scripted server that reports what a real one reports when its disk is full.</summary>
public sealed class DurabilityGuardTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MisconfClosesTheGateAndLaterWritesAreRefusedWithoutBeingSentWhileReadsStillAre()
    {
        var received = new List<string>();
        await using var server = new FakeRedisServer((_, command) =>
        {
            if (FakeRedisServer.Handshake(command) is { } handshake)
            {
                return Task.FromResult<string?>(handshake);
            }

            lock (received)
            {
                received.Add(command[0]);
            }

            return Task.FromResult<string?>(command[0] == "GET"
                ? "$1\r\nv\r\n"
                : "-MISCONF Errors writing to the AOF file: No space left on device\r\n");
        });
        var gate = new DurabilityGate(TimeProvider.System);
        await using var redis = new RedisConnection(RedisTestServers.Options(server.ConnectionString), durability: gate);

        var refused = await Assert.ThrowsAsync<RedisNotDurableException>(() => redis.StringSetAsync("k", "v", cancellationToken: Token));
        var notSent = await Assert.ThrowsAsync<RedisNotDurableException>(() => redis.HashSetAsync("h", "f", "v", Token));
        var read = await redis.StringGetAsync("k", Token);

        Assert.Contains("No space left on device", refused.Message);
        Assert.Contains("No space left on device", gate.Fault?.Cause);
        Assert.Contains("HSET was not sent", notSent.Message);
        Assert.Equal("v", read);
        Assert.Equal(["SET", "GET"], received);
    }

    [Fact]
    public async Task RedisAppendOnlyFileErrorClosesTheGateUntilItIsOkAndSaved()
    {
        var report = "aof_enabled:1\r\naof_last_write_status:err\r\n";
        var received = new List<string>();
        await using var server = new FakeRedisServer((_, command) =>
        {
            if (FakeRedisServer.Handshake(command) is { } handshake)
            {
                return Task.FromResult<string?>(handshake);
            }

            lock (received)
            {
                received.Add(command[0]);
            }

            return Task.FromResult<string?>(command[0] switch
            {
                "INFO" => Bulk("# Persistence\r\n" + Volatile.Read(ref report)),
                "CONFIG" => "*0\r\n",
                _ => "+OK\r\n",
            });
        });
        var (gate, monitor, redis) = Create(server.ConnectionString);
        await using var _ = redis;

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
            "CommittedUntilAddress:300\r\nTailAddress:999\r\n"]);
        await using var server = new FakeRedisServer((_, command) => Task.FromResult<string?>(FakeRedisServer.Handshake(command) ?? command[0] switch
        {
            "INFO" => Bulk("# Persistence_DB_0\r\n" + reports.Dequeue() + "rdb_last_bgsave_status:ok\r\n"),
            "CONFIG" => "*0\r\n",
            _ => "-ERR checkpoint failed, check server logs\r\n",
        }));
        var (gate, monitor, redis) = Create(server.ConnectionString);
        await using var _ = redis;

        for (var probe = 1; probe <= 4; probe++)
        {
            await monitor.ProbeOnceAsync(Token);
            Assert.True(gate.IsOpen); // a commit may lag a few probes behind writes that just arrived
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

    private static (DurabilityGate Gate, RedisDurabilityMonitor Monitor, RedisConnection Redis) Create(string connectionString)
    {
        var gate = new DurabilityGate(TimeProvider.System);
        var redis = new RedisConnection(RedisTestServers.Options(connectionString), durability: gate);
        var monitor = new RedisDurabilityMonitor(redis, gate, Options.Create(new DurabilityOptions()),
            Options.Create(new OrchestratorOptions { DataDir = Path.Combine(Path.GetTempPath(), "dc-no-such-data-dir") }),
            TimeProvider.System, NullLogger<RedisDurabilityMonitor>.Instance);
        return (gate, monitor, redis);
    }

    private static string Bulk(string text) => $"${System.Text.Encoding.UTF8.GetByteCount(text)}\r\n{text}\r\n";
}
