using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

/// <summary>
/// The embedded Garnet as the AppHost starts it (its own arguments, a data directory; its log memory made 128 MB so
/// that the test need not write gigabytes) keeps every record when the data outgrows its log memory: without the log
/// tiered to disk, Garnet drops the records that no longer fit, and a suite that kept accepting jobs answered 404 for
/// thousands of them.
/// </summary>
public sealed class GarnetLogMemoryTests
{
    private const int Records = 2_400;
    private const int RecordBytes = 100_000; // 240 MB in all, almost twice the log memory
    private const string SmallLogMemory = "128m";

    [Fact]
    public async Task RecordsBeyondTheLogMemoryAreKeptAndSurviveARestart()
    {
        // Arrange: the server with a data directory, as the AppHost runs it
        var ct = TestContext.Current.CancellationToken;
        var dataDirectory = Directory.CreateTempSubdirectory("dc-garnet-memory-").FullName;
        try
        {
            await using var server = await RedisServerProcess.StartGarnetAsync(dataDirectory, ct, logMemory: SmallLogMemory);
            var options = RedisTestServers.Options(server, TimeSpan.FromSeconds(30));
            options.OutageGrace = TimeSpan.FromSeconds(30);
            await using var redis = new RedisConnection(options);

            // Act: hashes like the jobs' records, far more than fits in memory, sent 50 at a time
            var filler = new string('x', RecordBytes);
            for (var first = 0; first < Records; first += 50)
            {
                await Task.WhenAll(Enumerable.Range(first, 50).Select(i =>
                    redis.ExecuteAsync(["HSET", Key(i), "record", $"{i}:{filler}"], ct)));
            }

            // Assert: every record is there with its own content, before and after a restart
            Assert.Empty(await MissingAsync(redis, ct));
            await server.StopAsync();
            await server.RestartAsync(ct);
            Assert.Empty(await MissingAsync(redis, ct));
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    private static string Key(int i) => $"garnet-memory:job:{i}";

    private static async Task<List<int>> MissingAsync(RedisConnection redis, CancellationToken ct)
    {
        var missing = new List<int>();
        for (var i = 0; i < Records; i++)
        {
            var record = await redis.HashGetAsync(Key(i), "record", ct);
            if (record is null || !record.StartsWith($"{i}:", StringComparison.Ordinal) || record.Length != $"{i}:".Length + RecordBytes)
            {
                missing.Add(i);
            }
        }

        return missing;
    }
}
