using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

/// <summary>
/// The embedded Garnet as the AppHost starts it checkpoints on a clock, and each checkpoint drops the part of the
/// append-only file it covers: without checkpoints the file held every write ever made (a suite rewriting its jobs'
/// records filled the disk with their old versions) and a restart replayed all of it. What was written before and
/// after the checkpoint survives a SIGKILL.
/// </summary>
public sealed class GarnetCheckpointTests
{
    private const int Keys = 200;
    private const int Rounds = 8;
    private const int ValueBytes = 100_000; // 160 MB written in all, of which 20 MB is live

    [Fact]
    public async Task CheckpointsTruncateTheAppendOnlyFileAndEverythingSurvivesAKill()
    {
        // Arrange: the server with a data directory, as the AppHost runs it, checkpointing every 2 s
        var ct = TestContext.Current.CancellationToken;
        var dataDirectory = Directory.CreateTempSubdirectory("dc-garnet-checkpoint-").FullName;
        try
        {
            await using var server = await RedisServerProcess.StartGarnetAsync(dataDirectory, ct, TimeSpan.FromSeconds(2));
            var options = RedisTestServers.Options(server, TimeSpan.FromSeconds(30));
            options.OutageGrace = TimeSpan.FromSeconds(30);
            await using var redis = new RedisConnection(options);
            var filler = new string('x', ValueBytes);

            // Act: every record rewritten eight times, as jobs' records are rewritten by each change
            for (var round = 0; round < Rounds; round++)
            {
                for (var first = 0; first < Keys; first += 50)
                {
                    await Task.WhenAll(Enumerable.Range(first, 50).Select(i =>
                        redis.ExecuteAsync(["HSET", Key(i), "record", $"{i}:{round}:{filler}"], ct)));
                }
            }

            var written = (long)Keys * Rounds * ValueBytes;
            var appendOnlyFile = await Eventually.ReturnsAsync(
                () => Task.FromResult(SizeOf(Path.Combine(dataDirectory, "AOF"))),
                size => size < written / 2,
                TimeSpan.FromSeconds(60));
            TestContext.Current.TestOutputHelper?.WriteLine($"written {written / 1_000_000} MB; append-only file {appendOnlyFile / 1_000_000} MB after checkpoints");
            await redis.ExecuteAsync(["HSET", "garnet-checkpoint:after", "record", "last"], ct);
            await server.StopAsync();
            await server.RestartAsync(ct);

            // Assert: each record's last version, and the write made after the checkpoint
            var wrong = new List<int>();
            for (var i = 0; i < Keys; i++)
            {
                var record = await redis.HashGetAsync(Key(i), "record", ct);
                if (record is null || !record.StartsWith($"{i}:{Rounds - 1}:", StringComparison.Ordinal))
                {
                    wrong.Add(i);
                }
            }

            Assert.Empty(wrong);
            Assert.Equal("last", await redis.HashGetAsync("garnet-checkpoint:after", "record", ct));
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    private static string Key(int i) => $"garnet-checkpoint:job:{i}";

    private static long SizeOf(string directory) =>
        Directory.Exists(directory)
            ? new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length)
            : 0;
}
