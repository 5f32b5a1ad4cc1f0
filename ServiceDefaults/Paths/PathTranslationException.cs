namespace DirectorsConsole.ServiceDefaults.Paths;

/// <summary>A path that cannot be read or translated. <see cref="Reason"/> says why in words meant for the
/// user (the API puts it in the 422 body).</summary>
public sealed class PathTranslationException : Exception
{
    private const int QuotedLength = 200;

    public PathTranslationException(string? path, string reason)
        : base($"Cannot translate {Quote(path)}: {reason}")
    {
        Path = path;
        Reason = reason;
    }

    public string? Path { get; }

    public string Reason { get; }

    // The path may be 4 KB long or hold control characters; keep the message one readable line.
    private static string Quote(string? path)
    {
        if (path is null)
        {
            return "a missing path";
        }

        var shown = path.Length > QuotedLength ? path[..QuotedLength] + "…" : path;
        return "'" + string.Concat(shown.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString())) + "'";
    }
}
