using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Inbox;

/// <summary>
/// The inbox folder: <c>ORCHESTRATOR_INBOX</c> (as the original; configuration key <c>INBOX</c>) or config.yaml
/// <c>inbox_dir</c>; the inbox is off when neither is set. A relative path is resolved against config.yaml's folder.
/// </summary>
public sealed class InboxOptions
{
    [ConfigurationKeyName("INBOX")]
    public string? Inbox { get; set; }

    [ConfigurationKeyName("inbox_dir")]
    public string? InboxDir { get; set; }

    /// <summary>Seconds between two looks at the folder.</summary>
    [ConfigurationKeyName("inbox_poll_seconds")]
    public double PollSeconds { get; set; } = 1;

    /// <summary>A file is read only once its size and modification time have not changed for this many seconds.</summary>
    [ConfigurationKeyName("inbox_settle_seconds")]
    public double SettleSeconds { get; set; } = 1;

    /// <summary>Longest one pass over the folder may take before it is abandoned (and logged).</summary>
    [ConfigurationKeyName("inbox_timeout_seconds")]
    public double TimeoutSeconds { get; set; } = 60;

    /// <summary>A manifest left in <c>processing/</c> this long was claimed by a replica that died; it goes back to the inbox.</summary>
    [ConfigurationKeyName("inbox_claim_expiry_seconds")]
    public double ClaimExpirySeconds { get; set; } = 600;

    /// <summary>The folder as configured (not yet resolved), or null when the inbox is off.</summary>
    public string? ConfiguredPath => !string.IsNullOrWhiteSpace(Inbox) ? Inbox : !string.IsNullOrWhiteSpace(InboxDir) ? InboxDir : null;

    public bool Enabled => ConfiguredPath is not null;

    public TimeSpan PollInterval => TimeSpan.FromSeconds(PollSeconds);

    public TimeSpan SettleTime => TimeSpan.FromSeconds(SettleSeconds);

    public TimeSpan Timeout => TimeSpan.FromSeconds(TimeoutSeconds);

    public TimeSpan ClaimExpiry => TimeSpan.FromSeconds(ClaimExpirySeconds);
}

public sealed class InboxOptionsValidator : IValidateOptions<InboxOptions>
{
    public ValidateOptionsResult Validate(string? name, InboxOptions options)
    {
        var failures = new List<string>();
        if (!(options.PollSeconds > 0))
        {
            failures.Add($"inbox_poll_seconds must be above 0 (it is {options.PollSeconds}).");
        }

        if (!(options.SettleSeconds >= 0))
        {
            failures.Add($"inbox_settle_seconds must not be negative (it is {options.SettleSeconds}).");
        }

        if (!(options.TimeoutSeconds > 0))
        {
            failures.Add($"inbox_timeout_seconds must be above 0 (it is {options.TimeoutSeconds}).");
        }

        if (!(options.ClaimExpirySeconds > options.TimeoutSeconds))
        {
            failures.Add($"inbox_claim_expiry_seconds ({options.ClaimExpirySeconds}) must exceed inbox_timeout_seconds ({options.TimeoutSeconds}), or a manifest still being submitted would be taken again.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
