using System.Globalization;
using System.Text.RegularExpressions;

namespace DirectorsConsole.GalleryService.Gallery.Files;

/// <summary>What a rename template's tokens are filled from, for one file.</summary>
public sealed record RenameContext(string Project, string Folder, string Stem, string Extension, int Index, DateTime Created);

/// <summary>
/// The batch- and auto-rename tokens (the original server): <c>{project}</c>, <c>{panel}</c> (the folder's number in
/// <c>Panel_01</c>, else the folder name), <c>{original}</c> (the old name without extension), <c>{index}</c> (padded to
/// the request's width), <c>{index:Nd}</c> / <c>{index:0Nd}</c> and <c>{seq:N}</c> (padded to N), <c>{date}</c>
/// (YYYY-MM-DD), <c>{time}</c> (HHMMSS), <c>{year}</c>, <c>{month}</c>, <c>{day}</c> (of the file's creation, UTC),
/// <c>{folder}</c> and <c>{ext}</c> (without the dot).
/// </summary>
public static partial class RenameTemplate
{
    public const int MaxPadWidth = 10;

    public static IReadOnlyList<string> KnownTokens { get; } =
        ["project", "panel", "original", "index", "seq", "date", "time", "year", "month", "day", "folder", "ext"];

    /// <summary>Null when every token is known and well formed, else what is wrong.</summary>
    public static string? Check(string template)
    {
        foreach (Match match in Token().Matches(template))
        {
            var name = match.Groups["name"].Value;
            var argument = match.Groups["arg"];
            if (!KnownTokens.Contains(name))
            {
                return $"unknown token '{match.Value}'; known tokens are {string.Join(", ", KnownTokens.Select(t => "{" + t + "}"))}, {{index:Nd}} and {{seq:N}}";
            }

            if (argument.Success && (name is not ("index" or "seq") || Width(name, argument.Value) is null))
            {
                return $"token '{match.Value}' has an argument it does not take (use {{index:03d}}, {{index:3d}} or {{seq:3}}, at most {MaxPadWidth} digits)";
            }
        }

        var stray = Token().Replace(template, "");
        return stray.IndexOfAny(['{', '}']) >= 0 ? "the template has a '{' or '}' that is not part of a token" : null;
    }

    public static string Render(string template, RenameContext context, int padWidth) =>
        Token().Replace(template, match =>
        {
            var name = match.Groups["name"].Value;
            var argument = match.Groups["arg"];
            var created = context.Created;
            return name switch
            {
                "project" => context.Project,
                "panel" => PanelNumber().Match(context.Folder) is { Success: true } panel ? panel.Groups[1].Value : context.Folder,
                "original" => context.Stem,
                "index" or "seq" => context.Index.ToString(CultureInfo.InvariantCulture)
                    .PadLeft(argument.Success ? Width(name, argument.Value)!.Value : padWidth, '0'),
                "date" => created.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                "time" => created.ToString("HHmmss", CultureInfo.InvariantCulture),
                "year" => created.ToString("yyyy", CultureInfo.InvariantCulture),
                "month" => created.ToString("MM", CultureInfo.InvariantCulture),
                "day" => created.ToString("dd", CultureInfo.InvariantCulture),
                "folder" => context.Folder,
                "ext" => context.Extension,
                _ => match.Value,
            };
        });

    private static int? Width(string name, string argument)
    {
        var digits = name == "index" ? (argument.EndsWith('d') ? argument[..^1] : null) : argument;
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var width) && width is >= 1 and <= MaxPadWidth ? width : null;
    }

    [GeneratedRegex(@"\{(?<name>[a-z]+)(?::(?<arg>[^{}]*))?\}", RegexOptions.CultureInvariant)]
    private static partial Regex Token();

    [GeneratedRegex(@"^panel[\s_\-]*(\d+)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PanelNumber();
}
