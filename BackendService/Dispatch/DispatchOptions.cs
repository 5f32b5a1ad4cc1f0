using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>Settings of prompt dispatch (section <c>Backends:Dispatch</c>), validated at start.</summary>
public sealed class DispatchOptions
{
    public const string SectionName = "Backends:Dispatch";

    /// <summary>How long a backend's worker holds a command while posting it before it is delivered again.</summary>
    public TimeSpan BackendVisibilityTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often a worker whose backend is full, offline or not connected looks again (a safety net: the worker
    /// is woken by its own changes), and how long it waits after a failed attempt to take a command.</summary>
    public TimeSpan IntakePollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The most commands a backend's worker takes from its queue at once and posts together (one claim, one
    /// write recording the accepted ones): a job group's children or a burst's prefetch cost a few round trips, not a few
    /// per prompt. 1 posts one command at a time.</summary>
    public int PostBatchSize { get; set; } = 8;

    /// <summary>Timeout of every JSON call to ComfyUI (prompt, history, queue, interrupt).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long the view proxy waits for the node's response headers before answering 504.</summary>
    public TimeSpan ViewTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts to post a prompt to an unreachable backend before it fails with <c>backend_unreachable</c>.</summary>
    public int PostAttempts { get; set; } = 3;

    /// <summary>Delay before the second post attempt; it doubles for each further attempt.</summary>
    public TimeSpan PostRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan SocketConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First delay before reopening a dropped socket; it doubles up to <see cref="SocketReconnectMaxDelay"/>.</summary>
    public TimeSpan SocketReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan SocketReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Interval of WebSocket pings; a pong missing for <see cref="SocketKeepAliveTimeout"/> drops the socket.</summary>
    public TimeSpan SocketKeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    public TimeSpan SocketKeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A socket silent this long while prompts are in flight is reopened (long-lived sockets can go
    /// silent, ComfyUI#9393); the reopen is harmless because in-flight prompts are then reconciled.</summary>
    public TimeSpan SocketIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Largest WebSocket frame read (SaveImageWebsocket sends full-size PNGs); larger ones are skipped.</summary>
    public int SocketMaxMessageBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>How long a backend may be unreachable (socket down, not reconnecting) before its in-flight prompts
    /// fail with <c>backend_lost</c>.</summary>
    public TimeSpan OfflineGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the worker reads the backend's state (online, enabled) and checks its socket.</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often every in-flight prompt is checked against the node's /queue and /history, a safety net
    /// for events that never arrived.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the last state of a prompt (<c>dc:render:prompt:{id}</c>) is kept.</summary>
    public TimeSpan PromptStateExpiry { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Previews larger than this are not published.</summary>
    public int PreviewMaxBytes { get; set; } = 1024 * 1024;

    /// <summary>At most one preview per prompt in this interval.</summary>
    public TimeSpan PreviewMinInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    public DirectorsConsole.Comfy.ComfySocketSettings ToSocketSettings() => new(
        SocketConnectTimeout, SocketKeepAliveInterval, SocketKeepAliveTimeout, SocketReconnectMinDelay, SocketReconnectMaxDelay, SocketMaxMessageBytes);
}

public sealed class DispatchOptionsValidator : IValidateOptions<DispatchOptions>
{
    public ValidateOptionsResult Validate(string? name, DispatchOptions options)
    {
        var failures = new OptionsFailures(DispatchOptions.SectionName);
        failures.RequirePositive(options.BackendVisibilityTimeout, nameof(options.BackendVisibilityTimeout));
        failures.RequirePositive(options.IntakePollInterval, nameof(options.IntakePollInterval));
        failures.RequirePositive(options.RequestTimeout, nameof(options.RequestTimeout));
        failures.RequirePositive(options.ViewTimeout, nameof(options.ViewTimeout));
        failures.RequirePositive(options.PostRetryDelay, nameof(options.PostRetryDelay));
        failures.RequirePositive(options.SocketConnectTimeout, nameof(options.SocketConnectTimeout));
        failures.RequirePositive(options.SocketReconnectMinDelay, nameof(options.SocketReconnectMinDelay));
        failures.RequirePositive(options.SocketReconnectMaxDelay, nameof(options.SocketReconnectMaxDelay));
        failures.RequirePositive(options.SocketKeepAliveInterval, nameof(options.SocketKeepAliveInterval));
        failures.RequirePositive(options.SocketKeepAliveTimeout, nameof(options.SocketKeepAliveTimeout));
        failures.RequirePositive(options.SocketIdleTimeout, nameof(options.SocketIdleTimeout));
        failures.RequirePositive(options.OfflineGrace, nameof(options.OfflineGrace));
        failures.RequirePositive(options.HealthCheckInterval, nameof(options.HealthCheckInterval));
        failures.RequirePositive(options.ReconcileInterval, nameof(options.ReconcileInterval));
        failures.RequirePositive(options.PromptStateExpiry, nameof(options.PromptStateExpiry));
        failures.RequirePositive(options.PreviewMinInterval, nameof(options.PreviewMinInterval));
        if (options.SocketReconnectMaxDelay < options.SocketReconnectMinDelay)
        {
            failures.Add($"{DispatchOptions.SectionName}:SocketReconnectMaxDelay must not be below SocketReconnectMinDelay.");
        }

        if (options.BackendVisibilityTimeout <= options.RequestTimeout)
        {
            failures.Add($"{DispatchOptions.SectionName}:BackendVisibilityTimeout must exceed RequestTimeout, or a slow post is delivered twice.");
        }

        if (options.PostBatchSize is < 1 or > 64)
        {
            failures.Add($"{DispatchOptions.SectionName}:PostBatchSize must be between 1 and 64.");
        }

        if (options.PostAttempts < 1)
        {
            failures.Add($"{DispatchOptions.SectionName}:PostAttempts must be at least 1.");
        }

        if (options.SocketMaxMessageBytes < 1024 || options.PreviewMaxBytes < 1)
        {
            failures.Add($"{DispatchOptions.SectionName}:SocketMaxMessageBytes must be at least 1024 and PreviewMaxBytes at least 1.");
        }

        return failures.ToResult();
    }
}
