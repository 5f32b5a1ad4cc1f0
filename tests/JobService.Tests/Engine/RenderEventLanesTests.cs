using System.Collections.Concurrent;
using DirectorsConsole.JobService.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>Render events of one job are applied one after the other in the order they came; another job's are not held
/// up behind them.</summary>
public sealed class RenderEventLanesTests
{
    [Fact]
    public async Task OneJobsWorkRunsInOrderWhileAnotherJobsRunsBesideIt()
    {
        // Arrange
        var lanes = new RenderEventLanes(NullLogger<RenderEventLanes>.Instance);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new ConcurrentQueue<string>();
        var otherDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Act
        lanes.Post("job-a", async () =>
        {
            await held.Task;
            done.Enqueue("a1");
        });
        for (var i = 2; i <= 20; i++)
        {
            var name = "a" + i;
            var fails = i % 2 == 1;
            lanes.Post("job-a", () =>
            {
                done.Enqueue(name);
                return !fails ? Task.CompletedTask : throw new InvalidOperationException("a failure the lane goes past");
            });
        }

        lanes.Post("job-b", () =>
        {
            done.Enqueue("b1");
            otherDone.SetResult();
            return Task.CompletedTask;
        });
        await otherDone.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        var beforeRelease = done.ToArray();
        held.SetResult();
        await lanes.WhenIdleAsync(TimeSpan.FromSeconds(30));

        // Assert
        Assert.Equal(["b1"], beforeRelease);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => "a" + i), done.Where(n => n.StartsWith('a')));
    }
}
