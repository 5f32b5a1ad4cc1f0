using System.Text.RegularExpressions;
using DirectorsConsole.GalleryService.Paths;

namespace DirectorsConsole.GalleryService.Project;

/// <summary>
/// The time one request may spend matching a client's pattern or regex against file names
/// (<c>Gallery__PatternBudgetMilliseconds</c>). Every match of the request draws on it (the time spent listing
/// folders does not), so a pattern that is slow on each file cannot add up to minutes over a large folder: once the
/// budget is spent the request is a 422 naming the field. The regex's own match timeout (set to the budget when it is
/// built) stops a single match that runs away.
/// </summary>
public sealed class PatternBudget
{
    private readonly TimeProvider _time;
    private TimeSpan _spent;
    private readonly string _field;
    private readonly string _location;
    private readonly string _pattern;

    private PatternBudget(TimeProvider time, TimeSpan budget, string field, string location, string pattern)
    {
        _time = time;
        Budget = budget;
        _field = field;
        _location = location;
        _pattern = pattern;
    }

    public TimeSpan Budget { get; }

    /// <param name="field">The request field holding the pattern, for the 422.</param>
    /// <param name="location">Where it was sent (<see cref="InvalidClientPathException.Body"/> or <c>Query</c>).</param>
    public static PatternBudget Start(TimeProvider time, TimeSpan budget, string field, string location, string pattern) =>
        new(time, budget, field, location, pattern);

    public Match Match(Regex regex, string input)
    {
        ArgumentNullException.ThrowIfNull(regex);
        ThrowIfSpent();
        var started = _time.GetTimestamp();
        try
        {
            return regex.Match(input);
        }
        catch (RegexMatchTimeoutException)
        {
            throw Spent();
        }
        finally
        {
            _spent += _time.GetElapsedTime(started);
        }
    }

    public string Replace(Regex regex, string input, string replacement)
    {
        ArgumentNullException.ThrowIfNull(regex);
        ThrowIfSpent();
        var started = _time.GetTimestamp();
        try
        {
            return regex.Replace(input, replacement);
        }
        catch (RegexMatchTimeoutException)
        {
            throw Spent();
        }
        finally
        {
            _spent += _time.GetElapsedTime(started);
        }
    }

    private void ThrowIfSpent()
    {
        if (_spent > Budget)
        {
            throw Spent();
        }
    }

    private InvalidClientPathException Spent() =>
        new(_field,
            $"'{_field}' took longer than the {Budget.TotalMilliseconds:0} ms this request may spend matching patterns (setting Gallery__PatternBudgetMilliseconds); simplify it (fewer tokens or wildcards in a row).",
            _location, _pattern);
}
