using System.Collections.Concurrent;
using DirectorsConsole.JobService.Engine;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>The batches a job group's settling changes are committed in: items handed in while a key's batch runs
/// gather into its next one, results go back to their own items, a failing batch fails only its own items, and
/// nothing is kept for a key with no batch.</summary>
public sealed class KeyedBatchesTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ItemsHandedInWhileABatchRunsAreRunTogetherNextEachGettingItsOwnResult()
    {
        // Arrange: a run that waits until the test lets it go
        var batches = new KeyedBatches<int, string>(maxItems: 64);
        var runs = new ConcurrentQueue<IReadOnlyList<int>>();
        var firstRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var letGo = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<IReadOnlyList<int>, Task<IReadOnlyList<string>>> run = async items =>
        {
            runs.Enqueue(items.ToList());
            firstRunning.TrySetResult();
            await letGo.Task;
            return items.Select(i => $"r{i}").ToList();
        };

        // Act: one item starts a batch; eight more come while it runs
        var first = batches.SubmitAsync("group", 0, run, Token);
        await firstRunning.Task.WaitAsync(TimeSpan.FromSeconds(10), Token);
        var later = Enumerable.Range(1, 8).Select(i => batches.SubmitAsync("group", i, run, Token)).ToList();
        letGo.SetResult();
        var results = await Task.WhenAll(later.Prepend(first));

        // Assert: two runs, the second with the eight in the order they came; each item its own result
        Assert.Equal([[0], [1, 2, 3, 4, 5, 6, 7, 8]], runs.ToArray());
        Assert.Equal(Enumerable.Range(0, 9).Select(i => $"r{i}"), results);
        Assert.Equal(0, batches.ActiveKeys);
    }

    [Fact]
    public async Task ABatchTakesAtMostItsLimitAndTheItemsAfterItGatherIntoTheNextInOrder()
    {
        // Arrange: batches of at most three
        var batches = new KeyedBatches<int, int>(maxItems: 3);
        var runs = new ConcurrentQueue<IReadOnlyList<int>>();
        var firstRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var letGo = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<IReadOnlyList<int>, Task<IReadOnlyList<int>>> run = async items =>
        {
            runs.Enqueue(items.ToList());
            firstRunning.TrySetResult();
            await letGo.Task;
            return items.ToList();
        };

        // Act: seven items come while the first batch runs
        var first = batches.SubmitAsync("group", 0, run, Token);
        await firstRunning.Task.WaitAsync(TimeSpan.FromSeconds(10), Token);
        var later = Enumerable.Range(1, 7).Select(i => batches.SubmitAsync("group", i, run, Token)).ToList();
        letGo.SetResult();
        var results = await Task.WhenAll(later.Prepend(first));

        // Assert: one batch after another, each of at most three, in the order the items came
        Assert.Equal([[0], [1, 2, 3], [4, 5, 6], [7]], runs.ToArray());
        Assert.Equal(Enumerable.Range(0, 8), results);
        Assert.Equal(0, batches.ActiveKeys);
    }

    [Fact]
    public async Task ABatchThatFailsFailsItsOwnItemsOnlyAndTheNextStillRuns()
    {
        // Arrange
        var batches = new KeyedBatches<int, int>(maxItems: 64);
        var firstRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var letGo = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<IReadOnlyList<int>, Task<IReadOnlyList<int>>> run = async items =>
        {
            firstRunning.TrySetResult();
            await letGo.Task;
            if (items.Contains(0))
            {
                throw new InvalidOperationException("the store refused the batch");
            }

            return items.Select(i => i * 10).ToList();
        };

        // Act
        var first = batches.SubmitAsync("group", 0, run, Token);
        await firstRunning.Task.WaitAsync(TimeSpan.FromSeconds(10), Token);
        var second = batches.SubmitAsync("group", 1, run, Token);
        var third = batches.SubmitAsync("group", 2, run, Token);
        letGo.SetResult();

        // Assert
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => first);
        Assert.Equal("the store refused the batch", failure.Message);
        var later = await Task.WhenAll(second, third);
        Assert.Equal([10, 20], later);
        Assert.Equal(0, batches.ActiveKeys);
    }

    [Fact]
    public async Task ASubmitterThatGivesUpStopsWaitingWhileTheOthersOfItsBatchGetTheirResults()
    {
        // Arrange
        var batches = new KeyedBatches<int, int>(maxItems: 64);
        var firstRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var letGo = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ran = new ConcurrentQueue<int>();
        Func<IReadOnlyList<int>, Task<IReadOnlyList<int>>> run = async items =>
        {
            firstRunning.TrySetResult();
            await letGo.Task;
            foreach (var item in items)
            {
                ran.Enqueue(item);
            }

            return items.ToList();
        };
        var first = batches.SubmitAsync("group", 0, run, Token);
        await firstRunning.Task.WaitAsync(TimeSpan.FromSeconds(10), Token);
        using var givesUp = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var leaving = batches.SubmitAsync("group", 1, run, givesUp.Token);
        var staying = batches.SubmitAsync("group", 2, run, Token);

        // Act
        await givesUp.CancelAsync();
        letGo.SetResult();

        // Assert: the one that gave up stopped waiting; its item, handed in with the others, was still carried out
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        var results = await Task.WhenAll(first, staying);
        Assert.Equal([0, 2], results);
        Assert.Equal([0, 1, 2], ran.ToArray());
    }

    [Fact]
    public async Task BatchesOfDifferentKeysRunSideBySide()
    {
        // Arrange: key a's batch runs until key b's has run
        var batches = new KeyedBatches<string, string>(maxItems: 64);
        var bRan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Act
        var a = batches.SubmitAsync("a", "a1", async items =>
        {
            await bRan.Task;
            return items;
        }, Token);
        var b = await batches.SubmitAsync("b", "b1", items =>
        {
            bRan.SetResult();
            return Task.FromResult(items);
        }, Token).WaitAsync(TimeSpan.FromSeconds(10), Token);

        // Assert
        Assert.Equal("b1", b);
        Assert.Equal("a1", await a.WaitAsync(TimeSpan.FromSeconds(10), Token));
    }
}
