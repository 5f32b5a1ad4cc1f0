using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// One client doing what a script or the web app does through the Gateway, round after round (a round is a few
/// requests, see <see cref="RestartFailoverTests"/>' streams), recording every answer that is not the one expected.
/// A kill (<see cref="KillBetweenRequestsAsync"/>) waits for the request in flight: a request a process had already
/// received when it died may have been applied, so no gateway may send it again, and it would fail whatever the suite
/// did; the test is about the requests that arrive while the service is down, which must all succeed.
/// </summary>
public sealed class RequestStream : IAsyncDisposable
{
    private readonly Func<RequestStream, int, CancellationToken, Task> _round;
    private readonly SemaphoreSlim _betweenRequests = new(1, 1);
    private readonly CancellationToken _cancellation;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _failures = [];
    private int _rounds;
    private TimeSpan _longestRequest;
    private Task _loop = Task.CompletedTask;

    private RequestStream(string name, Uri gateway, Func<RequestStream, int, CancellationToken, Task> round, CancellationToken cancellationToken)
    {
        Name = name;
        _round = round;
        _cancellation = cancellationToken;
        // As patient as the Gateway, which holds a request while a service restarts (restart_hold_seconds) and then
        // answers 503 itself, and waits up to its upstream timeout for an answer: a client that gave up sooner would
        // count a request the suite was still carrying as failed, and never learn what the Gateway answered.
        Gateway = new HttpClient { BaseAddress = gateway, Timeout = TimeSpan.FromSeconds(100) };
    }

    /// <summary>What the stream does, for messages.</summary>
    public string Name { get; }

    public HttpClient Gateway { get; }

    /// <summary>Rounds completed so far, whatever their outcome.</summary>
    public int Rounds => Volatile.Read(ref _rounds);

    /// <summary>The longest request since the last call (so, called after each kill, the longest one that kill held).</summary>
    public TimeSpan TakeLongestRequest()
    {
        lock (_failures)
        {
            var longest = _longestRequest;
            _longestRequest = TimeSpan.Zero;
            return longest;
        }
    }

    public IReadOnlyList<string> Failures { get { lock (_failures) { return [.. _failures]; } } }

    /// <summary>Starts running <paramref name="round"/> (the stream, the round's number from 1, the test's token) over
    /// and over, 100 ms apart, until <see cref="StopAsync"/>.</summary>
    public static RequestStream Start(string name, Uri gateway, Func<RequestStream, int, CancellationToken, Task> round, CancellationToken cancellationToken)
    {
        var stream = new RequestStream(name, gateway, round, cancellationToken);
        stream._loop = Task.Run(stream.RunAsync, CancellationToken.None);
        return stream;
    }

    /// <summary>
    /// Sends one request, between kills, and returns its JSON body when its status is one of <paramref name="expected"/>;
    /// otherwise records the failure and returns null (the round should then stop: what follows depends on it).
    /// </summary>
    public async Task<JsonNode?> SendAsync(string what, Func<HttpClient, CancellationToken, Task<HttpResponseMessage>> send, params HttpStatusCode[] expected)
    {
        await _betweenRequests.WaitAsync(_cancellation);
        var started = Stopwatch.StartNew();
        try
        {
            using var response = await send(Gateway, _cancellation);
            var body = await response.Content.ReadAsStringAsync(_cancellation);
            Record(started.Elapsed);
            if (expected.Contains(response.StatusCode))
            {
                return body.Length == 0 ? new JsonObject() : JsonNode.Parse(body);
            }

            Fail($"{what}: {(int)response.StatusCode} after {started.ElapsedMilliseconds} ms: {body}");
        }
        catch (HttpRequestException exception)
        {
            Fail($"{what}: {exception.GetType().Name} after {started.ElapsedMilliseconds} ms: {exception.Message}");
        }
        catch (TaskCanceledException exception) when (!_cancellation.IsCancellationRequested)
        {
            Fail($"{what}: no answer within {Gateway.Timeout.TotalSeconds:0} s: {exception.Message}");
        }
        finally
        {
            _betweenRequests.Release();
        }

        return null;
    }

    /// <summary>Records something the stream saw that is wrong (a write not found where it should be).</summary>
    public void Fail(string what)
    {
        lock (_failures)
        {
            _failures.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {Name}: {what}");
        }
    }

    /// <summary>Waits until <paramref name="count"/> more rounds have completed.</summary>
    public async Task WaitForRoundsAsync(int count, CancellationToken cancellationToken)
    {
        var target = Rounds + count;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline && !_loop.IsCompleted)
        {
            if (Rounds >= target)
            {
                return;
            }

            await Task.Delay(100, cancellationToken);
        }

        await _loop;
        throw new TimeoutException($"{Name}: fewer than {count} rounds within 90 s; failures: {string.Join("\n", Failures.Take(10))}");
    }

    /// <summary>Kills the process between two requests of every stream and returns when its sockets are closed.</summary>
    public static async Task<DateTimeOffset> KillBetweenRequestsAsync(IReadOnlyList<RequestStream> streams, int pid, CancellationToken cancellationToken)
    {
        var paused = new List<RequestStream>();
        try
        {
            foreach (var stream in streams)
            {
                await stream._betweenRequests.WaitAsync(cancellationToken);
                paused.Add(stream);
            }

            RunningSuite.Kill(pid);
            while (IsAlive(pid))
            {
                await Task.Delay(10, cancellationToken);
            }

            return DateTimeOffset.UtcNow;
        }
        finally
        {
            foreach (var stream in paused)
            {
                stream._betweenRequests.Release();
            }
        }
    }

    /// <summary>Stops after the round in progress, which ends normally (a request cut short could still have been
    /// applied, unknown to the stream's checks), and waits for it.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        _betweenRequests.Dispose();
        Gateway.Dispose();
    }

    private async Task RunAsync()
    {
        var round = 0;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await _round(this, ++round, _cancellation);
            }
            catch (OperationCanceledException) when (_cancellation.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                Fail($"round {round} failed: {exception}");
            }

            Interlocked.Increment(ref _rounds);
            try
            {
                await Task.Delay(100, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Record(TimeSpan requestTime)
    {
        lock (_failures)
        {
            if (requestTime > _longestRequest)
            {
                _longestRequest = requestTime;
            }
        }
    }

    /// <summary>True until every thread of the process has exited: the main thread can be a zombie while
    /// others are still ending, and until the last one has, the process's sockets stay open.</summary>
    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var zombie = stat[(stat.LastIndexOf(')') + 2)..][0] is 'Z' or 'X';
            return !zombie || Directory.GetDirectories($"/proc/{pid}/task").Length > 1;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
