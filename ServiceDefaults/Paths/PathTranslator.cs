namespace DirectorsConsole.ServiceDefaults.Paths;

/// <summary>What <see cref="PathTranslator.Translate"/> did with a path.</summary>
public enum PathTranslationOutcome
{
    /// <summary>A mapping matched; <see cref="PathTranslation.Path"/> is the path on the target OS.</summary>
    Mapped,

    /// <summary>No mapping matched, but the path already has the target OS's form; it is returned normalised.</summary>
    AlreadyInTargetForm,

    /// <summary>No mapping matched and the path belongs to another OS; it is returned unchanged.</summary>
    NoMapping,
}

/// <summary>The result of one translation.</summary>
/// <param name="Original">The path as given.</param>
/// <param name="Path">The translated path, the normalised path, or the original (see <paramref name="Outcome"/>).</param>
/// <param name="Target">The OS translated to.</param>
/// <param name="SourceForm">The form the input was written in.</param>
/// <param name="SourceOs">The OS whose prefix matched; Windows for any drive or UNC path; null for a POSIX path
/// no mapping claims, which may be a Linux or a macOS path.</param>
/// <param name="Mapping">The mapping used, or null.</param>
/// <param name="Outcome">Which of the three cases applied.</param>
public sealed record PathTranslation(
    string Original,
    string Path,
    PathOs Target,
    PathForm SourceForm,
    PathOs? SourceOs,
    PathMapping? Mapping,
    PathTranslationOutcome Outcome);

/// <summary>
/// Translates absolute paths between Windows, Linux and macOS with a set of <see cref="PathMapping"/>s.
/// Immutable, so one instance can be shared by every request.
/// </summary>
/// <remarks>
/// Unlike the original (the original server), the longest matching prefix wins across every enabled mapping and
/// every one of its OS prefixes, prefixes match whole folders only, <c>.</c> and <c>..</c> are resolved before
/// matching (so no <c>..</c> can step out of a mapped folder or survive into the result), and Windows paths
/// compare without regard to case while POSIX paths compare exactly.
/// </remarks>
public sealed class PathTranslator
{
    private static readonly PathOs[] AllOs = [PathOs.Windows, PathOs.Linux, PathOs.Macos];

    private readonly Prefix[] _prefixes;

    /// <summary>Builds a translator. Disabled mappings are ignored; a prefix that is not a valid path of its
    /// OS's form (mappings are stored as typed, half-finished ones included) is ignored and reported in
    /// <see cref="Problems"/>, so one unfinished mapping cannot stop the others from working.</summary>
    public PathTranslator(IEnumerable<PathMapping> mappings)
    {
        ArgumentNullException.ThrowIfNull(mappings);
        Mappings = mappings.ToArray();
        var prefixes = new List<Prefix>();
        var problems = new List<string>();
        foreach (var mapping in Mappings.Where(m => m.Enabled))
        {
            var parsed = new AbsolutePath?[AllOs.Length];
            foreach (var os in AllOs)
            {
                var text = mapping.PrefixFor(os);
                if (string.IsNullOrEmpty(text))
                {
                    continue;
                }

                if (!PathMappingValidator.TryParsePrefix(os, text, out var path, out var problem))
                {
                    problems.Add($"Mapping '{mapping.Name}' ({mapping.Id}): the {os.WireName} prefix '{text}' is ignored: {problem}.");
                    continue;
                }

                parsed[(int)os] = path;
                prefixes.Add(new Prefix(mapping, os, path!, parsed));
            }
        }

        _prefixes = prefixes.ToArray();
        Problems = problems;
    }

    public static PathTranslator Empty { get; } = new([]);

    /// <summary>Every mapping given, disabled ones included, in the order given.</summary>
    public IReadOnlyList<PathMapping> Mappings { get; }

    /// <summary>Prefixes that were ignored because they are malformed.</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>Translates <paramref name="path"/> for <paramref name="target"/>. Throws
    /// <see cref="PathTranslationException"/> for a malformed path, for <c>..</c> above the root, and for a
    /// POSIX name Windows cannot hold when the target is Windows.</summary>
    public PathTranslation Translate(string path, PathOs target)
    {
        var input = AbsolutePath.Parse(path);
        Prefix? best = null;
        foreach (var candidate in _prefixes)
        {
            if (candidate.Targets[(int)target] is null || !input.StartsWith(candidate.Path))
            {
                continue;
            }

            if (best is null || IsBetter(candidate, best, target))
            {
                best = candidate;
            }
        }

        if (best is null)
        {
            var inTargetForm = input.IsWindows != target.UsesPosixPaths;
            return new PathTranslation(
                path,
                inTargetForm ? input.ToString() : path,
                target,
                input.Form,
                input.IsWindows ? PathOs.Windows : null,
                null,
                inTargetForm ? PathTranslationOutcome.AlreadyInTargetForm : PathTranslationOutcome.NoMapping);
        }

        var tail = input.Segments.Skip(best.Path.Segments.Count).ToArray();
        var targetPrefix = best.Targets[(int)target]!;
        if (targetPrefix.IsWindows && !input.IsWindows && AbsolutePath.FindInvalidWindowsSegment(tail) is var (segment, character))
        {
            throw new PathTranslationException(path, $"the name '{segment}' contains '{character}', which Windows does not allow, so the path has no Windows form");
        }

        var translated = targetPrefix.Append(tail).ToString();
        if (translated.Length > AbsolutePath.MaxLength)
        {
            throw new PathTranslationException(path, $"the translated path would be longer than {AbsolutePath.MaxLength} characters");
        }

        return new PathTranslation(path, translated, target, input.Form, best.Os, best.Mapping, PathTranslationOutcome.Mapped);
    }

    /// <summary>Translates <paramref name="path"/> for the OS this process runs on.</summary>
    public PathTranslation ToLocal(string path) => Translate(path, PathOs.Current);

    // Longer prefixes win. Between equally long ones (one folder known under the same name to two OSes, or two
    // mappings for the same folder) the target's own prefix wins, so a path that is already local stays as it
    // is; otherwise the first mapping in the given order wins.
    private static bool IsBetter(Prefix candidate, Prefix best, PathOs target) =>
        candidate.Path.Segments.Count > best.Path.Segments.Count
        || (candidate.Path.Segments.Count == best.Path.Segments.Count && candidate.Os == target && best.Os != target);

    /// <summary>One OS prefix of a mapping, with all of that mapping's parsed prefixes (indexed by
    /// <see cref="PathOs"/>; null where the mapping has none) to translate into.</summary>
    private sealed record Prefix(PathMapping Mapping, PathOs Os, AbsolutePath Path, AbsolutePath?[] Targets);
}
