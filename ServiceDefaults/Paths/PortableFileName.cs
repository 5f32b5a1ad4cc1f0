using System.Globalization;

namespace DirectorsConsole.ServiceDefaults.Paths;

/// <summary>
/// The one rule for names that become file names in folders the suite shares with other hosts (workflows and their
/// sidecars, inbox files, project files and folders), often over SMB from Windows: a name must mean the same file on
/// Linux, macOS and Windows. So no path (separators, <c>..</c>), no Windows device name (<c>CON</c>,
/// <c>NUL</c>, <c>COM1</c>… with any extension, which Windows opens as the device), no character Windows refuses, no
/// control character, no trailing dot or space (Windows drops them, so two names would be one file) and a bounded length.
/// </summary>
public static class PortableFileName
{
    /// <summary>Longest name of a file of the inbox (Windows' and most Linux file systems' component limit).</summary>
    public const int MaxLength = 255;

    // Windows opens these as devices whatever the extension; COM and LPT with a superscript digit too.
    private static readonly HashSet<string> DeviceNames = new(
        ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
         .. Enumerable.Range(0, 10).Select(i => "COM" + i.ToString(CultureInfo.InvariantCulture)),
         .. Enumerable.Range(0, 10).Select(i => "LPT" + i.ToString(CultureInfo.InvariantCulture)),
         .. "\u00B9\u00B2\u00B3".SelectMany(d => new[] { "COM" + d, "LPT" + d })],
        StringComparer.OrdinalIgnoreCase);

    private const string WindowsReserved = "<>:\"|?*";

    /// <summary>Why <paramref name="name"/> cannot be a file name in a shared folder, or null when it can.</summary>
    public static string? Problem(string? name, int maxLength = MaxLength)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "the name is empty";
        }

        if (name.Length > maxLength)
        {
            return $"the name has {name.Length} characters, more than the {maxLength} allowed";
        }

        foreach (var c in name)
        {
            if (char.IsControl(c))
            {
                return $"the name contains the control character U+{(int)c:X4}";
            }

            if (c is '/' or '\\')
            {
                return $"the name contains '{c}': a name cannot be a path";
            }

            if (WindowsReserved.Contains(c, StringComparison.Ordinal))
            {
                return $"the name contains '{c}', which Windows does not allow in file names";
            }
        }

        if (name.Contains("..", StringComparison.Ordinal))
        {
            return "the name contains '..': a name cannot be a path";
        }

        if (name[^1] is '.' or ' ')
        {
            return "the name ends with a dot or a space, which Windows drops";
        }

        return DeviceNameOf(name) is { } device
            ? $"'{device}' is a Windows device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9, with any extension)"
            : null;
    }

    /// <summary>The device <paramref name="name"/> stands for on Windows (<c>nul.txt</c> → <c>nul</c>), or null.</summary>
    public static string? DeviceNameOf(string name)
    {
        var dot = name.IndexOf('.');
        var stem = (dot < 0 ? name : name[..dot]).TrimEnd(' ');
        return DeviceNames.Contains(stem) ? stem : null;
    }

    /// <summary>A name to keep <paramref name="name"/>'s file under when it is not portable: refused characters become
    /// '_', and the result is prefixed so that it is neither a device name nor hidden.</summary>
    public static string Replacement(string name)
    {
        var characters = name.Select(c => char.IsControl(c) || c is '/' or '\\' || WindowsReserved.Contains(c, StringComparison.Ordinal) ? '_' : c);
        var replaced = "renamed_" + new string(characters.ToArray()).Replace("..", "__", StringComparison.Ordinal);
        return (replaced.Length <= MaxLength ? replaced : replaced[..MaxLength]).TrimEnd('.', ' ');
    }
}
