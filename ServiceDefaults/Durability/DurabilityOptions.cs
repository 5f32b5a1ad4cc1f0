using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Durability;

/// <summary>How <see cref="RedisDurabilityMonitor"/> watches whether Redis persists what it is given
/// (section <c>Redis:Durability</c>).</summary>
public sealed class DurabilityOptions
{
    public const string SectionName = "Redis:Durability";

    /// <summary>How often the server's persistence and the free space under its data directory are checked.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Writes are refused while less than this is free on the file system of the server's data directory,
    /// so the server never meets a full disk (Garnet cannot write its append-only file again after it did). 0 turns
    /// the check off.</summary>
    public int MinFreeMegabytes { get; set; } = 128;
}

internal sealed class DurabilityOptionsValidator : IValidateOptions<DurabilityOptions>
{
    public ValidateOptionsResult Validate(string? name, DurabilityOptions options)
    {
        var failures = new List<string>();
        if (options.ProbeInterval < TimeSpan.FromMilliseconds(100) || options.ProbeInterval > TimeSpan.FromMinutes(1))
        {
            failures.Add($"{DurabilityOptions.SectionName}:{nameof(options.ProbeInterval)} must be between 100 ms and 1 minute, not {options.ProbeInterval}.");
        }

        if (options.MinFreeMegabytes < 0)
        {
            failures.Add($"{DurabilityOptions.SectionName}:{nameof(options.MinFreeMegabytes)} must be 0 (off) or more, not {options.MinFreeMegabytes}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
