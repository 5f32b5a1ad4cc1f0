using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// What a scheduler pass reads (<see cref="JobScheduler.RunPassAsync"/>): the jobs it may still decide, in queue order,
/// a chunk at a time, not the whole head of every queue. With a backlog every pass (one per slot freed or job queued)
/// used to read and parse up to <see cref="JobEngineOptions.SchedulerScanLimit"/> jobs of each queue, prompts included,
/// to dispatch the few that fit. Run on a JobService whose own scheduler never runs (the test holds its lease).
/// </summary>
public sealed class SchedulerReadTests
{
    private const int Waiting = 600;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task APassWithAFewFreeSlotsReadsAFewJobsNotTheBacklog()
    {
        // Arrange: 600 jobs waiting for a backend with two slots
        await using var rig = await CountedJobService.StartAsync(("sched-read", 2));
        var first = await rig.SubmitAsync("sched-read", 2);
        await rig.SubmitManyAsync("sched-read", Waiting);
        var readsBefore = rig.JobReads;

        // Act
        var dispatched = await rig.Scheduler.RunPassAsync(Token);

        // Assert: the first jobs in the queue were dispatched, filling the slots, after reading at most two chunks
        Assert.InRange(dispatched, 2, 32);
        Assert.InRange(rig.JobReads - readsBefore, dispatched, 2 * 32 + 2 * dispatched);
        var commands = await rig.CommandsAsync("sched-read");
        Assert.Equal(dispatched, commands.Count);
        Assert.All(first, job => Assert.Contains(commands, c => c.Item2 == job.JobId));

        // Act: a pass with every slot taken reads no job at all
        var readsFull = rig.JobReads;
        Assert.Equal(0, await rig.Scheduler.RunPassAsync(Token));
        Assert.Equal(readsFull, rig.JobReads);
    }

    [Fact]
    public async Task JobsOfEveryPriorityStillStartInQueueOrderAcrossChunks()
    {
        // Arrange: 100 jobs of priority 0, then 3 of priority -10 (lower goes first), for a backend with two slots
        await using var rig = await CountedJobService.StartAsync(("sched-order", 2));
        await rig.SubmitManyAsync("sched-order", 100);
        var urgent = new List<JobRecord>();
        for (var i = 0; i < 3; i++)
        {
            urgent.Add(await rig.Engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(seed: 9_000 + i)) { BackendAffinity = "sched-order", Priority = -10 }, Token));
        }

        // Act
        var dispatched = await rig.Scheduler.RunPassAsync(Token);

        // Assert: the urgent jobs, queued last, went first
        var sent = (await rig.CommandsAsync("sched-order")).Select(c => c.Item2).ToHashSet();
        Assert.Equal(dispatched, sent.Count);
        Assert.All(urgent.Take(Math.Min(dispatched, urgent.Count)), job => Assert.Contains(job.JobId, sent));
    }
}
