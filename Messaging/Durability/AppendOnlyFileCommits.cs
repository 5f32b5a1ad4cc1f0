namespace DirectorsConsole.Messaging.Durability;

/// <summary>
/// Waits, after a write, until the server's append-only file holds it, by sending Garnet's <c>COMMITAOF</c>
/// (<see cref="RedisOptions.CommitWrites"/>). Writers share commits: a commit covers every write whose reply had come
/// back before it was sent, so callers that finish their writes while one commit is on its way all wait for the next
/// one, and one <c>COMMITAOF</c> serves them all. A server's append-only file is one log committed up to a point, so a
/// commit sent after a write's reply covers that write and every write before it, of any client.
/// </summary>
internal sealed class AppendOnlyFileCommits(Func<Task> sendCommit)
{
    private readonly Lock _gate = new();
    // The callers that asked since the last commit was sent; null when none did.
    private TaskCompletionSource? _waiting;
    private bool _sending;

    /// <summary>Completes once a commit sent after this call has been answered; fails as that commit fails.</summary>
    public Task WaitAsync()
    {
        Task waiting;
        lock (_gate)
        {
            _waiting ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            waiting = _waiting.Task;
            if (_sending)
            {
                return waiting;
            }

            _sending = true;
        }

        _ = SendWhileAskedAsync();
        return waiting;
    }

    // One commit at a time; each takes every caller that asked before it was sent.
    private async Task SendWhileAskedAsync()
    {
        while (true)
        {
            TaskCompletionSource batch;
            lock (_gate)
            {
                if (_waiting is null)
                {
                    _sending = false;
                    return;
                }

                batch = _waiting;
                _waiting = null;
            }

            try
            {
                await sendCommit().ConfigureAwait(false);
                batch.SetResult();
            }
            catch (Exception ex)
            {
                batch.SetException(ex);
            }
        }
    }
}
