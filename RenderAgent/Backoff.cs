namespace DirectorsConsole.RenderAgent;

/// <summary>Doubling waits between <see cref="AgentOptions.RetryMinDelay"/> and <see cref="AgentOptions.RetryMaxDelay"/>,
/// back to the shortest after a success.</summary>
public sealed class Backoff(AgentOptions options, TimeProvider time)
{
    private int _failures;

    public int Failures => _failures;

    public void Reset() => _failures = 0;

    /// <summary>Counts a failure and waits before the next attempt.</summary>
    public Task WaitAsync(CancellationToken cancellationToken)
    {
        var ticks = options.RetryMinDelay.Ticks * Math.Pow(2, Math.Min(_failures, 16));
        _failures++;
        return Task.Delay(TimeSpan.FromTicks((long)Math.Min(ticks, options.RetryMaxDelay.Ticks)), time, cancellationToken);
    }
}
