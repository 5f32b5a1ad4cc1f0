namespace DirectorsConsole.ServiceDefaults.Paths;

/// <summary>One problem with a mapping's fields. <paramref name="Field"/> is the JSON name (<c>name</c>,
/// <c>windows</c>, <c>linux</c>, <c>macos</c>) or null for a problem with the mapping as a whole;
/// <paramref name="Type"/> is FastAPI's error type (<c>missing</c> or <c>value_error</c>).</summary>
public sealed record PathMappingFieldError(string? Field, string Type, string Message, string? Input);

/// <summary>The outcome of <see cref="PathMappingValidator.Validate"/>: the errors, and the fields in normal
/// form (name trimmed, prefixes normalised: <c>W:/</c> → <c>W:\</c>, trailing separators dropped).</summary>
public sealed record PathMappingValidation(
    IReadOnlyList<PathMappingFieldError> Errors, string Name, string Windows, string Linux, string Macos)
{
    public bool IsValid => Errors.Count == 0;
}

/// <summary>The rules a path mapping must follow before it is stored.</summary>
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
        else if (trimmedName.Length == 0)
        {
            errors.Add(new PathMappingFieldError("name", "value_error", "name must not be empty", name));
        }
        else if (trimmedName.Length > MaxNameLength)
        {
            errors.Add(new PathMappingFieldError("name", "value_error", $"name must be at most {MaxNameLength} characters long", name));
        }

        var normalised = new string[3];
        var given = 0;
        foreach (var (os, value) in new[] { (PathOs.Windows, windows), (PathOs.Linux, linux), (PathOs.Macos, macos) })
        {
            normalised[(int)os] = string.Empty;
            if (string.IsNullOrWhiteSpace(value))
            {
                continue;
            }

            given++;
            if (CheckPrefix(os, value, out var message) is { } path)
            {
                normalised[(int)os] = path;
            }
            else
            {
                errors.Add(new PathMappingFieldError(os.WireName, "value_error", message, value));
            }
        }

        if (given < 2)
        {
            errors.Add(new PathMappingFieldError(null, "value_error",
                "a mapping needs prefixes for at least two of windows, linux and macos", null));
        }

        return new PathMappingValidation(errors, trimmedName, normalised[0], normalised[1], normalised[2]);
    }

    private static string? CheckPrefix(PathOs os, string value, out string message)
    {
        AbsolutePath path;
        try
        {
            path = AbsolutePath.Parse(value);
        }
        catch (PathTranslationException ex)
        {
            message = $"{os.WireName}: {ex.Reason}";
            return null;
        }

        if (os == PathOs.Windows && !path.IsWindows)
        {
            message = "windows must be a drive (W:\\…) or UNC (\\\\server\\share\\…) path";
            return null;
        }

        if (os != PathOs.Windows && path.IsWindows)
        {
            message = $"{os.WireName} must be an absolute POSIX path (/…)";
            return null;
        }

        if (path.HadParentSegments)
        {
            message = $"{os.WireName} must not contain '..'";
            return null;
        }

        message = string.Empty;
        return path.ToString();
    }
}
