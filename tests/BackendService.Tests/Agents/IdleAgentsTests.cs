using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;

namespace DirectorsConsole.BackendService.Tests.Agents;

/// <summary>
/// Many idle render agents long-polling one replica at once: every poll is held to its timeout and answered 204, and
/// the polls hold no thread each (they wait on the durable queue's wake-up, not on a thread). Prints the replica's
/// threads and managed memory before and during the hold, with the load average; asserts no time.
/// </summary>
public sealed class IdleAgentsTests(AgentRig rig) : IClassFixture<AgentRig>
{
    private const int Agents = 200;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TwoHundredIdleAgentsLongPollingHoldNoThreadEach()
    {
        // Arrange
        var ids = Enumerable.Range(0, Agents).Select(i => $"idle-{i.ToString("000", CultureInfo.InvariantCulture)}-{AgentRig.NewAgentId()}").ToArray();
        using var client = rig.Client("*");
        foreach (var chunk in ids.Chunk(20))
        {
            await Task.WhenAll(chunk.Select(async id =>
            {
                using var registered = await client.PostAsJsonAsync("/_worker/workers/register", AgentRig.Registration(id), Token);
                Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
            }));
        }

        var before = Sample();

        // Act: every agent polls at once; the figures are taken while the polls are held.
        var polls = ids.Select(async id =>
        {
            using var response = await client.GetAsync($"/_worker/workers/{id}/tasks/next?timeout_seconds=4", Token);
            return response.StatusCode;
        }).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(2), Token);
        var during = Sample();
        var answers = await Task.WhenAll(polls);
        var after = Sample();

        // Assert
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{Agents} idle agents long-polling one BackendService replica (load average {LoadAverage()}): threads {before.Threads} before, " +
            $"{during.Threads} while held, {after.Threads} after; thread pool {before.PoolThreads} / {during.PoolThreads} / {after.PoolThreads}; " +
            $"managed heap {before.HeapMb:0.0} / {during.HeapMb:0.0} / {after.HeapMb:0.0} MiB; working set {before.WorkingSetMb:0} / {during.WorkingSetMb:0} / {after.WorkingSetMb:0} MiB");
        Assert.All(answers, status => Assert.Equal(HttpStatusCode.NoContent, status));
        Assert.True(during.PoolThreads - before.PoolThreads < Agents / 4,
            $"The thread pool grew from {before.PoolThreads} to {during.PoolThreads} threads while {Agents} polls were held.");
    }

    private static (int Threads, int PoolThreads, double HeapMb, double WorkingSetMb) Sample()
    {
        using var process = Process.GetCurrentProcess();
        return (process.Threads.Count, ThreadPool.ThreadCount, GC.GetTotalMemory(forceFullCollection: false) / 1048576.0, process.WorkingSet64 / 1048576.0);
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
