using DirectorsConsole.Messaging.Durability;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

/// <summary>
/// Writers share commits of the append-only file, but a writer is never answered by a commit sent before it asked:
/// such a commit may not cover its write.
/// </summary>
public sealed class AppendOnlyFileCommitsTests
{
    [Fact]
    public async Task CallersWhoAskWhileACommitIsOnItsWayShareTheNextOne()
    {
        // Arrange: commits that end only when the test says so
        var sent = new List<TaskCompletionSource>();
        var commits = new AppendOnlyFileCommits(() =>
        {
            var commit = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (sent)
            {
                sent.Add(commit);
            }

            return commit.Task;
        });

        // Act: one caller, then two more while its commit is on its way
        var first = commits.WaitAsync();
        var second = commits.WaitAsync();
        var third = commits.WaitAsync();

        // Assert: one commit so far; the later callers are not answered by it
        Assert.Single(sent);
        sent[0].SetResult();
        await first.WaitAsync(TestContext.Current.CancellationToken);
        await WaitUntilAsync(() => sent.Count == 2);
        Assert.False(second.IsCompleted);
        Assert.False(third.IsCompleted);
        sent[1].SetResult();
        await Task.WhenAll(second, third).WaitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(2, sent.Count);
    }

    [Fact]
    public async Task AFailedCommitFailsItsCallersAndTheNextCallerGetsANewOne()
    {
        // Arrange
        var calls = 0;
        var commits = new AppendOnlyFileCommits(() => Interlocked.Increment(ref calls) == 1
            ? Task.FromException(new IOException("connection lost"))
            : Task.CompletedTask);

        // Act and assert
        var failed = await Assert.ThrowsAsync<IOException>(() => commits.WaitAsync());
        Assert.Equal("connection lost", failed.Message);
        await commits.WaitAsync().WaitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(2, calls);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition never held.");
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }
}
