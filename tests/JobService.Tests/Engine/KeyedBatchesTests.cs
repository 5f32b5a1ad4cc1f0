using System.Collections.Concurrent;
using DirectorsConsole.JobService.Engine;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>The batches a job group's children's changes are committed in: items handed in while a key's batch runs
/// gather into its next one (at most the limit each), results go back to their own items, a failing batch fails only its
/// own items, and nothing is kept for a key with no batch.</summary>
public sealed class KeyedBatchesTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ItemsHandedInWhileABatchRunsAreRunTogetherNextEachGettingItsOwnResult()
    {
        // Arrange
        var batches = new KeyedBatches<int, int>(maxItems: 64);
        var run = new HeldRun(items => items.Select(i => i * 10).ToList());

        // Act: one item starts a batch; eight more come while it runs
        var first = batches.SubmitAsync("group", 0, run.RunAsync, Token);
        await run.FirstRunning;
        var later = Enumerable.Range(1, 8).Select(i => batches.SubmitAsync("group", i, run.RunAsync, Token)).ToList();
        run.LetGo();
        var results = await Task.WhenAll(later.Prepend(first));

        // Assert: two runs, the second with the eight in the order they came; each item its own result
        Assert.Equal([[0], [1, 2, 3, 4, 5, 6, 7, 8]], run.Runs);
        Assert.Equal(Enumerable.Range(0, 9).Select(i => i * 10), results);
        Assert.Equal(0, batches.ActiveKeys);
    }

    [Fact]
    public async Task ABatchTakesAtMostItsLimitAndTheItemsAfterItGatherIntoTheNextInOrder()
    {
        // Arrange: batches of at most three
        var batches = new KeyedBatches<int, int>(maxItems: 3);
        var run = new HeldRun(items => items.ToList());

        // Act: seven items come while the first batch runs
        var first = batches.SubmitAsync("group", 0, run.RunAsync, Token);
        await run.FirstRunning;
        var later = Enumerable.Range(1, 7).Select(i => batches.SubmitAsync("group", i, run.RunAsync, Token)).ToList();
        run.LetGo();
        var results = await Task.WhenAll(later.Prepend(first));

        // Assert: one batch after another, each of at most three, in the order the items came
        Assert.Equal([[0], [1, 2, 3], [4, 5, 6], [7]], run.Runs);
        Assert.Equal(Enumerable.Range(0, 8), results);
        Assert.Equal(0, batches.ActiveKeys);
    }

    [Fact]
    public async Task ABatchThatFailsFailsItsOwnItemsOnlyAndTheNextStillRuns()
    {
        // Arrange: the batch holding item 0 fails
        var batches = new KeyedBatches<int, int>(maxItems: 64);
        var run = new HeldRun(items => items.Contains(0)
            ? throw new InvalidOperationException("the store refused the batch")
            : items.Select(i => i * 10).ToList());

        // Act
        var first = batches.SubmitAsync("group", 0, run.RunAsync, Token);
        await run.FirstRunning;
        var second = batches.SubmitAsync("group", 1, run.RunAsync, Token);
        var third = batches.SubmitAsync("group", 2, run.RunAsync, Token);
        run.LetGo();

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
        var run = new HeldRun(items => items.ToList());
        var first = batches.SubmitAsync("group", 0, run.RunAsync, Token);
        await run.FirstRunning;
        using var givesUp = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var leaving = batches.SubmitAsync("group", 1, run.RunAsync, givesUp.Token);
        var staying = batches.SubmitAsync("group", 2, run.RunAsync, Token);

        // Act
        await givesUp.CancelAsync();
        run.LetGo();

        // Assert: the one that gave up stopped waiting; its item, handed in with the others, was still carried out
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        var results = await Task.WhenAll(first, staying);
        Assert.Equal([0, 2], results);
        Assert.Equal([[0], [1, 2]], run.Runs);
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

    /// <summary>A batch's run that records the items of each batch and holds every batch until <see cref="LetGo"/>.</summary>
    private sealed class HeldRun(Func<IReadOnlyList<int>, IReadOnlyList<int>> results)
    {
        private readonly ConcurrentQueue<IReadOnlyList<int>> _runs = new();
        private readonly TaskCompletionSource _firstRunning = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _letGo = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes once the first batch runs (and is held).</summary>
        public Task FirstRunning => _firstRunning.Task.WaitAsync(TimeSpan.FromSeconds(10), Token);

        /// <summary>The items of each batch run so far, in the order the batches ran.</summary>
        public IReadOnlyList<IReadOnlyList<int>> Runs => _runs.ToArray();

        public void LetGo() => _letGo.SetResult();

        public async Task<IReadOnlyList<int>> RunAsync(IReadOnlyList<int> items)
        {
            _runs.Enqueue(items.ToList());
            _firstRunning.TrySetResult();
            await _letGo.Task;
            return results(items);
        }
    }
}
