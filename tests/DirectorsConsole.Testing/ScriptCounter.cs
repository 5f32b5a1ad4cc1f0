using System.Collections.Concurrent;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.Testing;

/// <summary>
/// A Redis connection that counts and records the scripts sent through it (their text and keys), and holds them, unsent,
/// while asked to: every script (<see cref="Hold"/>), only the next one a test names (<see cref="HoldNext"/>), or one
/// at a time, each let go on its own (<see cref="HoldOne"/>), so
/// that a test can change state between a caller's reads and its script; fails the next script a test names as a
/// connection lost before its reply would (<see cref="LoseReplyOfNext"/>); and stops the caller of the next script a test
/// names while its reply is on its way (<see cref="CancelOnReplyOfNext"/>). Other commands pass straight through, and
/// are recorded so that a test can count them (<see cref="CountCommands"/>).
/// </summary>
public sealed class ScriptCounter(IRedisConnection inner) : IRedisConnection
{
    private readonly ConcurrentQueue<(string Script, IReadOnlyList<string> Keys)> _sent = new();
    private readonly ConcurrentQueue<string[]> _commands = new();
    private readonly List<OneHold> _holds = [];
    private volatile TaskCompletionSource _open = OpenGate();
    private volatile TaskCompletionSource _openNext = OpenGate();
    private volatile TaskCompletionSource _held = OpenGate();
    private Func<string, IReadOnlyList<string>, bool>? _holdNext;
    private (Func<IReadOnlyList<string>, IReadOnlyList<RedisArg>, bool> Match, bool CarriedOut)? _loseNext;
    private ReplyCancel? _cancelOnReply;
    private int _lost;

    /// <summary>How many scripts <see cref="LoseReplyOfNext"/> has failed.</summary>
    public int Lost => Volatile.Read(ref _lost);

    /// <summary>The next script whose keys and arguments match fails with a <see cref="RedisConnectionException"/>, as
    /// one whose connection broke before its reply came back: carried out by the server first, or not, as
    /// <paramref name="carriedOut"/> says. Scripts before and after it pass.</summary>
    public void LoseReplyOfNext(Func<IReadOnlyList<string>, IReadOnlyList<RedisArg>, bool> match, bool carriedOut) =>
        _loseNext = (match, carriedOut);

    /// <summary>The next script whose keys match is carried out, and <paramref name="caller"/> is cancelled before its
    /// reply is handed back: a caller that stopped (its lease lost, its session ended) while the reply was on its way.
    /// As with the real client, a caller whose own token is now cancelled gets no reply but an
    /// <see cref="OperationCanceledException"/>; one that passed another token gets the reply.</summary>
    public void CancelOnReplyOfNext(Func<IReadOnlyList<string>, bool> match, CancellationTokenSource caller) =>
        _cancelOnReply = new ReplyCancel(match, caller);

    /// <summary>How many scripts were sent (or are held) so far.</summary>
    public int Scripts => _sent.Count;

    /// <summary>How many of the scripts sent so far match.</summary>
    public int Count(Func<string, IReadOnlyList<string>, bool> match) => _sent.Count(s => match(s.Script, s.Keys));

    /// <summary>Scripts wait, unsent, until <see cref="Release"/>.</summary>
    public void Hold() => _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The next script that matches waits, unsent, until <see cref="Release"/>; the task completes once it is
    /// waiting. Scripts before and after it pass.</summary>
    public Task HoldNext(Func<string, IReadOnlyList<string>, bool> match)
    {
        _openNext = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = _held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _holdNext, match);
        return held.Task;
    }

    /// <summary>The next script that matches waits, unsent, until the returned <c>Release</c> is called (not
    /// <see cref="Release"/>); <c>Held</c> completes once it is waiting. Holds taken this way are independent of each other
    /// and of the others, so a test can hold one script, then the next, and let them go in its own order.</summary>
    public (Task Held, Action Release) HoldOne(Func<string, IReadOnlyList<string>, bool> match)
    {
        var hold = new OneHold(match);
        lock (_holds)
        {
            _holds.Add(hold);
        }

        return (hold.Held.Task, () => hold.Gate.TrySetResult());
    }

    /// <summary>Lets every held script go.</summary>
    public void Release()
    {
        _open.TrySetResult();
        _openNext.TrySetResult();
    }

    public bool IsConnected => inner.IsConnected;

    /// <summary>How many commands (not scripts) sent so far match: each is given as its name and arguments.</summary>
    public int CountCommands(Func<IReadOnlyList<string>, bool> match) => _commands.Count(match);

    public Task<RedisReply> ExecuteAsync(IReadOnlyList<RedisArg> command, CancellationToken cancellationToken = default)
    {
        Record(command);
        return inner.ExecuteAsync(command, cancellationToken);
    }

    public Task<RedisReply> ExecuteAsync(IReadOnlyList<RedisArg> command, OnLostReply onLostReply, CancellationToken cancellationToken = default)
    {
        Record(command);
        return inner.ExecuteAsync(command, onLostReply, cancellationToken);
    }

    private void Record(IReadOnlyList<RedisArg> command) => _commands.Enqueue(command.Select(arg => arg.ToString()).ToArray());

    public Task<RedisReply> ScriptEvaluateAsync(string script, IReadOnlyList<string> keys, IReadOnlyList<RedisArg> args, CancellationToken cancellationToken = default) =>
        ScriptEvaluateAsync(script, keys, args, OnLostReply.Fail, cancellationToken);

    public async Task<RedisReply> ScriptEvaluateAsync(
        string script, IReadOnlyList<string> keys, IReadOnlyList<RedisArg> args, OnLostReply onLostReply, CancellationToken cancellationToken = default)
    {
        await GateAsync(script, keys).ConfigureAwait(false);
        if (_loseNext is { } lose && lose.Match(keys, args))
        {
            _loseNext = null;
            if (lose.CarriedOut)
            {
                await inner.ScriptEvaluateAsync(script, keys, args, onLostReply, cancellationToken).ConfigureAwait(false);
            }

            Interlocked.Increment(ref _lost);
            throw new RedisConnectionException("The connection to Redis was lost before the reply came back (a test's fault).");
        }

        if (_cancelOnReply is { } cancel && cancel.Match(keys) && Interlocked.CompareExchange(ref _cancelOnReply, null, cancel) == cancel)
        {
            var reply = await inner.ScriptEvaluateAsync(script, keys, args, onLostReply, CancellationToken.None).ConfigureAwait(false);
            await cancel.Caller.CancelAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            return reply;
        }

        return await inner.ScriptEvaluateAsync(script, keys, args, onLostReply, cancellationToken).ConfigureAwait(false);
    }

    private sealed record ReplyCancel(Func<IReadOnlyList<string>, bool> Match, CancellationTokenSource Caller);

    private sealed class OneHold(Func<string, IReadOnlyList<string>, bool> match)
    {
        public Func<string, IReadOnlyList<string>, bool> Match => match;

        public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private async Task GateAsync(string script, IReadOnlyList<string> keys)
    {
        _sent.Enqueue((script, keys));
        OneHold? one;
        lock (_holds)
        {
            one = _holds.FirstOrDefault(h => h.Match(script, keys));
            if (one is not null)
            {
                _holds.Remove(one);
            }
        }

        if (one is not null)
        {
            one.Held.TrySetResult();
            await one.Gate.Task.ConfigureAwait(false);
            return;
        }

        if (Volatile.Read(ref _holdNext) is { } match && match(script, keys) && Interlocked.CompareExchange(ref _holdNext, null, match) == match)
        {
            _held.TrySetResult();
            await _openNext.Task.ConfigureAwait(false);
            return;
        }

        await _open.Task.ConfigureAwait(false);
    }

    private static TaskCompletionSource OpenGate()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }
}
