using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Webhooks;

/// <summary>Settings of webhook delivery (section <c>Webhooks</c>; the signing secret is config.yaml's top-level
/// <c>webhook_secret</c>, <c>ORCHESTRATOR_WEBHOOK_SECRET</c>), validated at start.</summary>
public sealed class WebhookOptions
{
    public const string SectionName = "Webhooks";

    /// <summary>The top-level key of the signing secret; when it is unset a secret is generated once and kept under
    /// <c>data_dir</c>, so every replica sharing that folder signs alike and receivers keep verifying after a restart.</summary>
    public const string SecretKey = "webhook_secret";

    /// <summary>The signing secret; null here means the generated one is used.</summary>
    public string? Secret { get; set; }

    /// <summary>How long a delivery keeps being retried after its event before it is recorded as given up.</summary>
    public TimeSpan RetryFor { get; set; } = TimeSpan.FromHours(24);

    /// <summary>The wait before the first retry; each later retry waits twice as long, up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long one POST may take, connection included.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the delivery loop looks for deliveries that are due.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Deliveries sent at once by one replica.</summary>
    public int MaxConcurrentDeliveries { get; set; } = 8;

    /// <summary>Whether webhooks may go to loopback addresses (127.0.0.0/8, ::1): off by default, because a webhook
    /// URL is chosen by a client and loopback reaches the suite's own unauthenticated ports.</summary>
    public bool AllowLoopback { get; set; }

    /// <summary>The suite's address as outside systems reach it (e.g. <c>https://render.studio.lan:9820</c>); the
    /// approval link in a webhook is absolute when this is set, otherwise a path on the Gateway.</summary>
    public Uri? PublicBaseUrl { get; set; }
}

public sealed class WebhookOptionsValidator : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions options)
    {
        var failures = new OptionsFailures(WebhookOptions.SectionName);
        failures.RequirePositive(options.RetryFor, nameof(options.RetryFor));
        failures.RequirePositive(options.FirstRetryDelay, nameof(options.FirstRetryDelay));
        failures.RequirePositive(options.MaxRetryDelay, nameof(options.MaxRetryDelay));
        failures.RequirePositive(options.RequestTimeout, nameof(options.RequestTimeout));
        failures.RequirePositive(options.PollInterval, nameof(options.PollInterval));
        if (options.MaxRetryDelay < options.FirstRetryDelay)
        {
            failures.Add($"{WebhookOptions.SectionName}:MaxRetryDelay must be at least FirstRetryDelay.");
        }

        failures.RequireBetween(options.MaxConcurrentDeliveries, 1, 256, nameof(options.MaxConcurrentDeliveries));

        if (options.Secret is { Length: > 0 and < 16 })
        {
            failures.Add($"{WebhookOptions.SecretKey} must be at least 16 characters long.");
        }

        if (options.PublicBaseUrl is { } url && (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https")))
        {
            failures.Add($"{WebhookOptions.SectionName}:PublicBaseUrl must be an absolute http or https URL.");
        }

        return failures.ToResult();
    }
}
