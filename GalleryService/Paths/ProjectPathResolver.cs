using System.Text;
using System.Text.RegularExpressions;
using DirectorsConsole.GalleryService.Project;
using DirectorsConsole.ServiceDefaults.Paths;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.GalleryService.Paths;

/// <summary>
/// <see cref="IProjectPathResolver"/> for this machine. In order: the text is checked (required, no NUL or
/// control characters, no percent-encoded dots, separators or percent signs, names of at most 255 bytes, no
/// Windows device names); a relative path is taken relative to the current project; the path is translated with
/// PathService's mappings (a path of another OS without a mapping is refused, never guessed at); <c>.</c> and
/// <c>..</c> are resolved; every existing component is resolved through symbolic links (and junctions); and the
/// real path must lie inside an allowed root, compared segment by segment.
/// </summary>
public sealed partial class ProjectPathResolver(
    IPathTranslatorSource translators,
    CurrentProjectStore currentProjects,
    IOptions<ProjectRootsOptions> options,
    IHttpContextAccessor httpContextAccessor) : IProjectPathResolver
{
    /// <summary>The longest path accepted, the same limit as PathService's.</summary>
    public const int MaxPathLength = 4096;

    /// <summary>Followed links per path; more means a loop.</summary>
    private const int MaxLinkHops = 40;

    // Where a request keeps the current project it read (HttpContext.Items): an object no other code can name.
    private static readonly object CurrentProjectItem = new();

    /// <summary>How this machine compares paths: Windows and macOS volumes ignore case by default, Linux does not.</summary>
    public static StringComparison PathComparison { get; } =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    public static StringComparer PathComparer { get; } =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    public async Task<ConfinedPath> ResolveAsync(string? clientPath, string field, CancellationToken cancellationToken)
    {
        var source = SourceOf(field, clientPath);
        CheckText(clientPath, source);
        var text = clientPath!;
        if (!IsAbsoluteInAnyForm(text))
        {
            var project = await GetCurrentProjectAsync(cancellationToken)
                ?? throw source.Invalid(
                    $"'{field}' is a relative path ('{Shorten(text)}') and no current project is set to resolve it against; send an absolute path or set the project first (POST /api/project).");
            text = Join(project.Path, text);
        }

        var roots = await AllowedRootsAsync(cancellationToken);
        return await ResolveAbsoluteAsync(text, source, roots, cancellationToken);
    }

    /// <summary>Resolves <paramref name="clientPath"/> (relative to <paramref name="folder"/>, or absolute) and
    /// requires the result to lie inside <paramref name="folder"/>: for a file path given beside a project path.
    /// Relative paths may use <c>/</c> or <c>\</c>, as clients on either OS write them.</summary>
    public async Task<ConfinedPath> ResolveWithinAsync(ConfinedPath folder, string? clientPath, string field, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var source = SourceOf(field, clientPath);
        CheckText(clientPath, source);
        var text = IsAbsoluteInAnyForm(clientPath!) ? clientPath! : Join(folder.FullPath, clientPath!);
        var resolved = await ResolveAbsoluteAsync(text, source, await AllowedRootsAsync(cancellationToken), cancellationToken);
        if (!IsInside(resolved.FullPath, folder.FullPath))
        {
            throw new PathNotAllowedException(field, $"'{field}' must lie inside {folder.FullPath}, but it is {resolved.FullPath}.");
        }

        return resolved;
    }

    /// <summary>The configured roots only (links resolved), without the current project: where a new current
    /// project may be chosen.</summary>
    public IReadOnlyList<string> ConfiguredRoots() =>
        options.Value.Roots.Select(root => ResolveLinks(Path.GetFullPath(root), ProjectRootsOptions.SectionName)).Distinct(PathComparer).ToList();

    public async Task<IReadOnlyList<string>> AllowedRootsAsync(CancellationToken cancellationToken)
    {
        var roots = ConfiguredRoots().ToList();
        if (await GetCurrentProjectAsync(cancellationToken) is { } project && Path.IsPathFullyQualified(project.Path))
        {
            var folder = ResolveLinks(Path.GetFullPath(project.Path), "project");
            if (!roots.Contains(folder, PathComparer))
            {
                roots.Add(folder);
            }
        }

        return roots;
    }

    /// <summary>Resolves an absolute path against <paramref name="roots"/> (real, absolute folders).</summary>
    public Task<ConfinedPath> ResolveAbsoluteAsync(string text, string field, IReadOnlyList<string> roots, CancellationToken cancellationToken) =>
        ResolveAbsoluteAsync(text, SourceOf(field, text), roots, cancellationToken);

    // text is the client's value, or the absolute path made from it; source keeps the value as the client sent it.
    private async Task<ConfinedPath> ResolveAbsoluteAsync(string text, ClientValue source, IReadOnlyList<string> roots, CancellationToken cancellationToken)
    {
        var field = source.Field;
        CheckText(text, source);
        CheckSegments(text, source);
        var climbs = SplitSegments(text).Any(segment => segment == "..");
        var translator = await translators.GetFreshAsync(cancellationToken);
        PathTranslation translation;
        try
        {
            translation = translator.ToLocal(text);
        }
        catch (PathTranslationException ex) when (ex.Reason.Contains("'..'", StringComparison.Ordinal))
        {
            throw new PathNotAllowedException(field, $"'{field}' uses '..' to climb out of the allowed roots: {ex.Reason}.");
        }
        catch (PathTranslationException ex) when (ex.Reason.Contains("device paths", StringComparison.Ordinal))
        {
            throw new PathNotAllowedException(field, $"'{field}' is a Windows device path, which is never allowed: {ex.Reason}.");
        }
        catch (PathTranslationException ex)
        {
            throw source.Invalid($"'{field}' is not a usable path: {ex.Reason}.");
        }

        if (translation.Outcome == PathTranslationOutcome.NoMapping)
        {
            var kind = translation.SourceForm switch
            {
                PathForm.WindowsUnc => "a UNC path",
                PathForm.WindowsDrive => "a Windows drive path",
                _ => "a POSIX path",
            };
            throw new PathNotAllowedException(field,
                $"'{field}' is {kind} ('{Shorten(text)}') and no path mapping translates it for this {PathOs.Current.WireName} machine; add a path mapping (PathService) or send the path as this machine sees it.");
        }

        var local = Path.GetFullPath(translation.Path);
        var real = ResolveLinks(local, field);
        if (FindRoot(real, roots) is { } root)
        {
            return new ConfinedPath(real, root);
        }

        if (FindRoot(local, roots) is not null)
        {
            throw new PathNotAllowedException(field, $"'{field}' passes through a symbolic link that leads outside the allowed roots ({local} is really {real}).");
        }

        if (climbs)
        {
            throw new PathNotAllowedException(field, $"'{field}' uses '..' to leave the allowed roots (it resolves to {local}).");
        }

        throw new PathNotAllowedException(field,
            $"'{field}' ({local}) is outside the allowed roots; paths must lie inside {string.Join(" or ", roots)} (setting: project_roots / ORCHESTRATOR_PROJECT_ROOTS, or the current project).");
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="folder"/> or lies inside it, whole segments only.</summary>
    public static bool IsInside(string path, string folder)
    {
        if (string.Equals(path, folder, PathComparison))
        {
            return true;
        }

        var prefix = Path.EndsInDirectorySeparator(folder) ? folder : folder + Path.DirectorySeparatorChar;
        return path.StartsWith(prefix, PathComparison);
    }

    /// <summary>
    /// Follows every symbolic link (and junction) in <paramref name="fullPath"/>, component by component, as the
    /// kernel would: <c>..</c> after a link climbs from the link's target, not from the link. Components that do
    /// not exist are kept as written.
    /// </summary>
    public static string ResolveLinks(string fullPath, string field)
    {
        var root = Path.GetPathRoot(fullPath) ?? throw new InvalidClientPathException(field, $"'{field}' has no root.");
        var pending = new Stack<string>(SplitLocal(fullPath[root.Length..]).Reverse());
        var current = root;
        var hops = 0;
        while (pending.TryPop(out var segment))
        {
            if (segment is "" or ".")
            {
                continue;
            }

            if (segment == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }

            var next = Path.Join(current, segment);
            if (LinkTargetOf(next) is not { } target)
            {
                current = next;
                continue;
            }

            if (++hops > MaxLinkHops)
            {
                throw new PathNotAllowedException(field, $"'{field}' passes through more than {MaxLinkHops} symbolic links (a loop?).");
            }

            var absolute = Path.IsPathFullyQualified(target) ? target : Path.Join(current, target);
            var targetRoot = Path.GetPathRoot(absolute) ?? root;
            foreach (var part in SplitLocal(absolute[targetRoot.Length..]).Reverse())
            {
                pending.Push(part);
            }

            current = targetRoot;
        }

        return current;
    }

    private static string? LinkTargetOf(string path)
    {
        try
        {
            return Directory.Exists(path) ? new DirectoryInfo(path).LinkTarget : new FileInfo(path).LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Unreadable: not followed, and the path stays as written (which is inside the root or refused).
            return null;
        }
    }

    private async Task<CurrentProject?> GetCurrentProjectAsync(CancellationToken cancellationToken)
    {
        // One Redis read per request, however many paths the request holds.
        var items = httpContextAccessor.HttpContext?.Items;
        if (items is not null && items.TryGetValue(CurrentProjectItem, out var cached))
        {
            return (CurrentProject?)cached;
        }

        var project = await currentProjects.GetAsync(cancellationToken);
        if (items is not null)
        {
            items[CurrentProjectItem] = project;
        }

        return project;
    }

    /// <summary>Makes the rest of this request see <paramref name="project"/> as the current project.</summary>
    public void RememberCurrentProject(CurrentProject? project)
    {
        if (httpContextAccessor.HttpContext?.Items is { } items)
        {
            items[CurrentProjectItem] = project;
        }
    }

    private static string? FindRoot(string path, IReadOnlyList<string> roots) =>
        roots.Where(root => IsInside(path, root)).OrderByDescending(root => root.Length).FirstOrDefault();

    /// <summary>Where a path field was sent: the query when the request's query string holds this value under
    /// this name (GET endpoints, <c>?path=</c>), else the body. The input echoed back is the value as sent.</summary>
    private ClientValue SourceOf(string field, string? value)
    {
        var query = httpContextAccessor.HttpContext?.Request.Query;
        var fromQuery = value is not null && query is not null && query.TryGetValue(field, out var values) && values.Contains(value);
        return new ClientValue(field, fromQuery ? InvalidClientPathException.Query : InvalidClientPathException.Body, value);
    }

    private readonly record struct ClientValue(string Field, string Location, string? Input)
    {
        public InvalidClientPathException Invalid(string detail) => new(Field, detail, Location, Input);
    }

    private static void CheckText(string? text, ClientValue source)
    {
        var field = source.Field;
        if (string.IsNullOrEmpty(text))
        {
            throw source.Invalid($"'{field}' is required and may not be empty.");
        }

        if (text.Length > MaxPathLength)
        {
            throw source.Invalid($"'{field}' is longer than {MaxPathLength} characters.");
        }

        if (text.Contains('\0'))
        {
            throw source.Invalid($"'{field}' contains a NUL character.");
        }

        if (text.FirstOrDefault(char.IsControl) is var control and not '\0')
        {
            throw source.Invalid($"'{field}' contains the control character U+{(int)control:X4}.");
        }

        if (EncodedSpecialCharacter().Match(text) is { Success: true } match)
        {
            throw new PathNotAllowedException(field,
                $"'{field}' contains the percent-encoded character '{match.Value}'; paths arrive decoded once, and encoded dots, separators or percent signs (encoded traversal) are refused.");
        }
    }

    private static void CheckSegments(string text, ClientValue source)
    {
        var field = source.Field;
        foreach (var segment in SplitSegments(text))
        {
            if (Encoding.UTF8.GetByteCount(segment) > ClientNames.MaxNameBytes)
            {
                throw source.Invalid($"'{field}' holds a name longer than {ClientNames.MaxNameBytes} bytes ('{Shorten(segment)}').");
            }

            if (ClientNames.IsReservedDeviceName(segment))
            {
                throw new PathNotAllowedException(field, $"'{field}' names the Windows device '{segment}', which is never allowed in a path.");
            }
        }
    }

    private static bool IsAbsoluteInAnyForm(string text) =>
        text[0] is '/' or '\\' || (text.Length >= 2 && char.IsAsciiLetter(text[0]) && text[1] == ':');

    private static string Join(string folder, string relative)
    {
        var local = relative.Replace(Path.DirectorySeparatorChar == '/' ? '\\' : '/', Path.DirectorySeparatorChar);
        return Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar + local;
    }

    private static IEnumerable<string> SplitSegments(string text) => text.Split(['/', '\\'], StringSplitOptions.RemoveEmptyEntries);

    private static string[] SplitLocal(string text) =>
        text.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);

    private static string Shorten(string text) => text.Length > 200 ? text[..200] + "…" : text;

    // %2e '.', %2f '/', %5c '\', %25 '%' (double encoding), %00 NUL, in either case.
    [GeneratedRegex("%(2e|2f|5c|25|00)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex EncodedSpecialCharacter();
}
