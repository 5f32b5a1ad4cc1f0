using System.Text;
using System.Text.RegularExpressions;

namespace DirectorsConsole.GalleryService.Project;

/// <summary>
/// The storyboard's file naming templates (<c>{project}_Panel{panel}_{version}</c>) as
/// regular expressions. Unlike the original, the literal text between tokens is escaped, so a <c>.</c> or
/// <c>(</c> in a template matches itself only. They run on the non-backtracking engine (the templates need no
/// backtracking feature), so matching costs time in proportion to the name, whatever the template: a template of
/// many wildcards in a row cannot take exponential time. A timeout bounds one match all the same.
/// </summary>
public static partial class NamingPattern
{
    public const string Default = "{project}_Panel{panel}_{version}";

    /// <summary>For scan-project-images: <c>{project}</c> captures a name, <c>{panel}</c> digits,
    /// <c>{version}</c> <c>v</c> + digits, any other token anything within one folder. Matched against the file's
    /// path below the scanned folder without its extension (with <c>/</c> separators), or, when the pattern has
    /// no <c>/</c>, against the file name's stem alone.</summary>
    public static Regex ForScan(string pattern, TimeSpan timeout) => Build(pattern, timeout, token => token switch
    {
        "project" => "(?<project>[^/]+?)",
        "panel" => @"(?<panel>\d+)",
        "version" => @"v(?<version>\d+)",
        _ => "[^/]*?",
    });

    /// <summary>For scan-versions: the last segment of <paramref name="pattern"/> with <c>{panel}</c> the panel
    /// folder's name (or the number it ends in), <c>{project}</c> the current project's name when known.</summary>
    public static Regex ForVersions(string pattern, string panelFolder, string? projectName, TimeSpan timeout)
    {
        var last = pattern.Replace('\\', '/').Split('/')[^1];
        var digits = TrailingDigits().Match(panelFolder);
        var panel = Regex.Escape(panelFolder) + (digits.Success ? "|0*" + (digits.Value.TrimStart('0') is { Length: > 0 } number ? number : "0") : "");
        return Build(last, timeout, token => token switch
        {
            "panel" => $"(?:{panel})",
            "project" => projectName is null ? "[^/]+?" : $"(?:{Regex.Escape(projectName)})",
            "version" => @"v(?<version>\d+)",
            _ => "[^/]*?",
        });
    }

    private static Regex Build(string pattern, TimeSpan timeout, Func<string, string> token)
    {
        var regex = new StringBuilder("^");
        var position = 0;
        foreach (Match match in Token().Matches(pattern))
        {
            regex.Append(Regex.Escape(pattern[position..match.Index]));
            regex.Append(token(match.Groups[1].Value.ToLowerInvariant()));
            position = match.Index + match.Length;
        }

        regex.Append(Regex.Escape(pattern[position..])).Append('$');
        return new Regex(regex.ToString(), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.NonBacktracking, timeout);
    }

    // {name} or {name:03d}; the format part is the client's business.
    [GeneratedRegex(@"\{([A-Za-z_]+)(?::[^}]*)?\}")]
    private static partial Regex Token();

    [GeneratedRegex(@"\d+$")]
    private static partial Regex TrailingDigits();
}
