namespace DirectorsConsole.ServiceDefaults.Paths;

/// <summary>One problem with a mapping's fields. <paramref name="Field"/> is the JSON name (<c>name</c>,
/// <c>windows</c>, <c>linux</c>, <c>macos</c>); <paramref name="Type"/> is FastAPI's error type (<c>missing</c>
/// or <c>value_error</c>).</summary>
public sealed record PathMappingFieldError(string Field, string Type, string Message, string? Input);

/// <summary>The outcome of <see cref="PathMappingValidator.Validate"/>: the errors, and the fields as they are
/// stored (name trimmed; a prefix that is a valid path of its OS normalised, <c>W:/</c> → <c>W:\</c>, trailing
/// separators dropped; any other prefix kept as typed).</summary>
public sealed record PathMappingValidation(
    IReadOnlyList<PathMappingFieldError> Errors, string Name, string Windows, string Linux, string Macos)
{
    public bool IsValid => Errors.Count == 0;
}

/// <summary>
/// The rules a path mapping must follow before it is stored. They are deliberately loose: the web app creates a
/// mapping with an empty name and empty prefixes, then saves it on every keystroke, so a half-typed mapping
/// (<c>W</c>, <c>/mnt/Man</c>, one prefix only, an empty name) must be storable. Prefixes are checked where they
/// are used: <see cref="PathTranslator"/> ignores, and reports, a prefix that is not a path of its OS, and a
/// mapping with fewer than two usable prefixes simply never matches.
/// </summary>
public static class PathMappingValidator
{
    public const int MaxNameLength = 200;

    public static PathMappingValidation Validate(string? name, string? windows, string? linux, string? macos)
    {
        var errors = new List<PathMappingFieldError>();
        var trimmedName = name?.Trim() ?? string.Empty;
        if (name is null)
        {
            errors.Add(new PathMappingFieldError("name", "missing", "Field required", null));
        }
        else if (trimmedName.Length > MaxNameLength)
        {
            errors.Add(new PathMappingFieldError("name", "value_error", $"name must be at most {MaxNameLength} characters long", name));
        }

        var stored = new string[3];
        foreach (var (os, value) in new[] { (PathOs.Windows, windows), (PathOs.Linux, linux), (PathOs.Macos, macos) })
        {
            if (value is { Length: > AbsolutePath.MaxLength })
            {
                errors.Add(new PathMappingFieldError(os.WireName, "value_error",
                    $"{os.WireName} must be at most {AbsolutePath.MaxLength} characters long", value));
            }

            stored[(int)os] = string.IsNullOrWhiteSpace(value) ? string.Empty : Normalise(os, value);
        }

        return new PathMappingValidation(errors, trimmedName, stored[0], stored[1], stored[2]);
    }

    /// <summary>Why <paramref name="value"/> cannot serve as <paramref name="os"/>'s prefix, or null when it can.</summary>
    public static string? PrefixProblem(PathOs os, string value) => TryParsePrefix(os, value, out _, out var problem) ? null : problem;

    /// <summary>Whether <paramref name="value"/> is usable as <paramref name="os"/>'s prefix, and why not.</summary>
    internal static bool TryParsePrefix(PathOs os, string value, out AbsolutePath? path, out string problem)
    {
        path = null;
        try
        {
            var parsed = AbsolutePath.Parse(value);
            problem = os == PathOs.Windows && !parsed.IsWindows ? "it is not a drive (W:\\…) or UNC (\\\\server\\share\\…) path"
                : os != PathOs.Windows && parsed.IsWindows ? "it is not an absolute POSIX path (/…)"
                : parsed.HadParentSegments ? "it contains '..'"
                : string.Empty;
            path = problem.Length == 0 ? parsed : null;
        }
        catch (PathTranslationException ex)
        {
            problem = ex.Reason;
        }

        return path is not null;
    }

    private static string Normalise(PathOs os, string value) =>
        TryParsePrefix(os, value, out var path, out _) ? path!.ToString() : value;
}
