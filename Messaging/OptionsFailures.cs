using Microsoft.Extensions.Options;

namespace DirectorsConsole.Messaging;

/// <summary>
/// What is wrong with one options section, gathered by its validator so that a service stops at start with every
/// problem at once, each naming the setting as it is configured (<c>Section:Key</c>). Every service's validators share
/// it, so the same mistake reads the same whichever service reports it.
/// </summary>
public sealed class OptionsFailures(string section)
{
    private readonly List<string> _failures = [];

    /// <summary>The configuration name of a setting of this section.</summary>
    public string Key(string name) => $"{section}:{name}";

    /// <summary>A duration that must be above zero: a zero interval would spin a loop, a zero timeout fail everything.</summary>
    public void RequirePositive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            _failures.Add($"{Key(name)} must be a positive duration (it is {value}).");
        }
    }

    /// <summary>A whole number within <paramref name="min"/>…<paramref name="max"/>.</summary>
    public void RequireBetween(int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            _failures.Add($"{Key(name)} must be between {min} and {max} (it is {value}).");
        }
    }

    /// <summary>Any other problem, in a sentence that names the setting.</summary>
    public void Add(string failure) => _failures.Add(failure);

    public ValidateOptionsResult ToResult() => _failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(_failures);
}
