using System.Buffers;

namespace DirectorsConsole.ServiceDefaults.Paths;

/// <summary>The three forms of absolute path the suite accepts.</summary>
public enum PathForm
{
    /// <summary><c>X:\…</c> or <c>X:/…</c>.</summary>
    WindowsDrive,

    /// <summary><c>\\server\share\…</c> or <c>//server/share/…</c>.</summary>
    WindowsUnc,

    /// <summary><c>/…</c>, used by Linux and macOS.</summary>
    Posix,
}

/// <summary>
/// An absolute path split into its root and its folder segments, with <c>.</c>, <c>..</c>, repeated and
/// trailing separators resolved lexically. Parsing rejects whatever cannot be translated safely, so a parsed
/// path never holds <c>..</c>, an empty segment or a control character.
/// </summary>
internal sealed class AbsolutePath
{
    public const int MaxLength = 4096;

    private static readonly SearchValues<char> InvalidWindowsCharacters = SearchValues.Create("<>:\"|?*");

    private AbsolutePath(PathForm form, string root, string[] segments, bool hadParentSegments)
    {
        Form = form;
        Root = root;
        Segments = segments;
        HadParentSegments = hadParentSegments;
    }

    public PathForm Form { get; }

    /// <summary><c>W:</c> (the drive letter upper-cased), <c>\\server\share</c> as written, or <c>/</c>.</summary>
    public string Root { get; }

    public IReadOnlyList<string> Segments { get; }

    /// <summary>True when the text held <c>..</c> segments (resolved away by parsing); mappings must not.</summary>
    public bool HadParentSegments { get; }

    public bool IsWindows => Form != PathForm.Posix;

    /// <summary>Windows compares drive letters, servers, shares and folders without regard to case; POSIX
    /// (Linux and macOS alike) compares exactly. macOS volumes are usually case-insensitive, but a mapping
    /// cannot know that, so macOS paths are matched case-sensitively like Linux ones.</summary>
    public StringComparison Comparison => IsWindows ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    public static AbsolutePath Parse(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            throw new PathTranslationException(path, "the path is empty");
        }

        if (path.Length > MaxLength)
        {
            throw new PathTranslationException(path, $"the path is longer than {MaxLength} characters");
        }

        foreach (var c in path)
        {
            if (c == '\0')
            {
                throw new PathTranslationException(path, "the path contains a NUL character");
            }

            if (char.IsControl(c))
            {
                throw new PathTranslationException(path, $"the path contains the control character U+{(int)c:X4}");
            }
        }

        if (path.Contains('/') && path.Contains('\\'))
        {
            throw new PathTranslationException(path, "the path mixes '\\' and '/' separators; use one kind throughout");
        }

        if (path.Length >= 2 && char.IsAsciiLetter(path[0]) && path[1] == ':')
        {
            return ParseDrive(path);
        }

        if (path.Length >= 2 && IsSeparator(path[0]) && path[1] == path[0] && (path.Length == 2 || !IsSeparator(path[2])))
        {
            return ParseUnc(path);
        }

        if (path[0] == '/')
        {
            return ParsePosix(path);
        }

        if (path[0] == '\\')
        {
            throw new PathTranslationException(path, "the path starts at the root of the current drive; name the drive (C:\\…) or the share (\\\\server\\share\\…)");
        }

        throw new PathTranslationException(path, "the path is relative; give an absolute path such as C:\\folder, \\\\server\\share\\folder or /mnt/folder");
    }

    /// <summary>This path with <paramref name="tail"/> appended (segments already checked by parsing).</summary>
    public AbsolutePath Append(IEnumerable<string> tail) => new(Form, Root, [.. Segments, .. tail], false);

    /// <summary>True when this path is <paramref name="prefix"/> or lies inside it: the same root and the same
    /// leading segments, compared whole, so <c>/mnt/a</c> is not a prefix of <c>/mnt/ab</c>.</summary>
    public bool StartsWith(AbsolutePath prefix)
    {
        if (prefix.Form != Form || prefix.Segments.Count > Segments.Count || !string.Equals(prefix.Root, Root, Comparison))
        {
            return false;
        }

        for (var i = 0; i < prefix.Segments.Count; i++)
        {
            if (!string.Equals(prefix.Segments[i], Segments[i], Comparison))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The first segment Windows cannot hold and the character at fault, or null.</summary>
    public static (string Segment, char Character)? FindInvalidWindowsSegment(IEnumerable<string> segments)
    {
        foreach (var segment in segments)
        {
            var index = segment.AsSpan().IndexOfAny(InvalidWindowsCharacters);
            if (index >= 0)
            {
                return (segment, segment[index]);
            }
        }

        return null;
    }

    /// <summary>The normal text form: <c>\</c> separators for Windows paths, <c>/</c> for POSIX, no trailing
    /// separator except in a drive root (<c>W:\</c>) or the POSIX root.</summary>
    public override string ToString() => Form switch
    {
        PathForm.WindowsDrive => Root + "\\" + string.Join('\\', Segments),
        PathForm.WindowsUnc => Segments.Count == 0 ? Root : Root + "\\" + string.Join('\\', Segments),
        _ => "/" + string.Join('/', Segments),
    };

    private static bool IsSeparator(char c) => c is '/' or '\\';

    private static AbsolutePath ParseDrive(string path)
    {
        if (path.Length > 2 && !IsSeparator(path[2]))
        {
            throw new PathTranslationException(path, $"the path is relative to the current folder of drive {path[..2]}; write {path[..2]}\\…");
        }

        var root = char.ToUpperInvariant(path[0]) + ":";
        var (segments, hadParent) = Resolve(path, path.Length > 3 ? path[3..] : string.Empty, root + "\\", windows: true);
        return new AbsolutePath(PathForm.WindowsDrive, root, segments, hadParent);
    }

    private static AbsolutePath ParseUnc(string path)
    {
        var separator = path[0];
        var parts = path[2..].Split(separator);
        if (parts[0].Length == 0)
        {
            throw new PathTranslationException(path, "the UNC path names no server");
        }

        if (parts[0] is "?" or ".")
        {
            throw new PathTranslationException(path, "Windows device paths (\\\\?\\…, \\\\.\\…) are not supported");
        }

        if (parts.Length < 2 || parts[1].Length == 0)
        {
            throw new PathTranslationException(path, "the UNC path names no share; write \\\\server\\share\\…");
        }

        foreach (var name in parts[..2])
        {
            if (name is "." or "..")
            {
                throw new PathTranslationException(path, $"'{name}' cannot be a UNC server or share name");
            }
        }

        if (FindInvalidWindowsSegment(parts[..2]) is var (bad, character))
        {
            throw new PathTranslationException(path, $"'{bad}' contains '{character}', which Windows does not allow in a name");
        }

        var root = "\\\\" + parts[0] + "\\" + parts[1];
        var (segments, hadParent) = Resolve(path, string.Join(separator, parts[2..]), root, windows: true);
        return new AbsolutePath(PathForm.WindowsUnc, root, segments, hadParent);
    }

    private static AbsolutePath ParsePosix(string path)
    {
        var (segments, hadParent) = Resolve(path, path, "/", windows: false);
        return new AbsolutePath(PathForm.Posix, "/", segments, hadParent);
    }

    // Resolves "." and ".." lexically, as a user reads the path, not through symbolic links: the path may name
    // a share that this machine has not mounted, so the file system cannot be asked.
    private static (string[] Segments, bool HadParent) Resolve(string path, string rest, string rootText, bool windows)
    {
        var stack = new List<string>();
        var hadParent = false;
        foreach (var segment in rest.Split(windows ? ['\\', '/'] : ['/']))
        {
            switch (segment)
            {
                case "" or ".":
                    continue;
                case "..":
                    hadParent = true;
                    if (stack.Count == 0)
                    {
                        throw new PathTranslationException(path, $"'..' climbs above the root {rootText}");
                    }

                    stack.RemoveAt(stack.Count - 1);
                    continue;
            }

            if (windows && FindInvalidWindowsSegment([segment]) is var (_, character))
            {
                throw new PathTranslationException(path, $"the name '{segment}' contains '{character}', which Windows does not allow");
            }

            stack.Add(segment);
        }

        return (stack.ToArray(), hadParent);
    }
}
