namespace DirectorsConsole.ServiceDefaults.Redis;

/// <summary>Exponential back-off with jitter, so many clients that lost the same server do not all
/// reconnect in the same instant.</summary>
internal sealed class ReconnectBackoff(TimeSpan minDelay, TimeSpan maxDelay)
{
    private int _attempt;

    public void Reset() => _attempt = 0;

    /// <summary>The next delay: the base doubles per attempt up to the maximum, and a random 50–100% of it is used.</summary>
    public TimeSpan Next()
    {
        var exponent = Math.Min(_attempt++, 30);
        var baseDelay = Math.Min(minDelay.TotalMilliseconds * Math.Pow(2, exponent), maxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(baseDelay * (0.5 + Random.Shared.NextDouble() / 2));
    }
}
