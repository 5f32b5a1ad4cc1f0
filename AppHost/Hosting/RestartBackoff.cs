namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// When to restart a process that exited: 1 s, 2 s, 4 s … at most 30 s after consecutive failures, back
/// to 1 s once a run stayed healthy for 60 s.
/// </summary>
public sealed class RestartBackoff
{
    public static readonly TimeSpan FirstDelay = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan ResetAfterHealthy = TimeSpan.FromSeconds(60);

    private int _consecutiveFailures;

    /// <summary>The delay before the next start, given how long the run that just ended was healthy.</summary>
    public TimeSpan NextDelay(TimeSpan healthyFor)
    {
        if (healthyFor >= ResetAfterHealthy)
        {
            _consecutiveFailures = 0;
        }

        return DelayAfter(++_consecutiveFailures);
    }

    public static TimeSpan DelayAfter(int consecutiveFailures)
    {
        var doublings = Math.Clamp(consecutiveFailures - 1, 0, 5);
        var delay = FirstDelay * (1 << doublings);
        return delay < MaxDelay ? delay : MaxDelay;
    }
}
