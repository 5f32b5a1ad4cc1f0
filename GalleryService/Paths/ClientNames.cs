using System.Text;
using DirectorsConsole.ServiceDefaults.Paths;

namespace DirectorsConsole.GalleryService.Paths;

/// <summary>
/// Checks a single file or folder name chosen by a client (a new file name, a folder to create, a rename
/// target). A name is one path segment that every OS of the suite can hold, so a file saved from a Linux
/// client stays usable from a Windows workstation on the same share.
/// </summary>
public static class ClientNames
{
    /// <summary>Linux and macOS limit a name to 255 bytes, Windows to 255 UTF-16 units; the bytes are stricter.</summary>
    public const int MaxNameBytes = 255;

    private const string WindowsForbidden = "<>:\"|?*";

    /// <summary>Returns the name unchanged when it is usable; otherwise throws
    /// <see cref="InvalidClientPathException"/> (HTTP 422) naming <paramref name="field"/> (a body field) and the rule broken.</summary>
    public static string Validate(string? name, string field)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new InvalidClientPathException(field, $"'{field}' is required and may not be empty.", input: name);
        }

        if (name.Contains('\0'))
        {
            throw new InvalidClientPathException(field, $"'{field}' contains a NUL character.", input: name);
        }

        if (name.FirstOrDefault(char.IsControl) is var control and not '\0')
        {
            throw new InvalidClientPathException(field, $"'{field}' contains the control character U+{(int)control:X4}.", input: name);
        }

        if (name.IndexOfAny(['/', '\\']) >= 0)
        {
            throw new InvalidClientPathException(field, $"'{field}' must be a single name without '/' or '\\' separators.", input: name);
        }

        if (name is "." or "..")
        {
            throw new InvalidClientPathException(field, $"'{field}' may not be '.' or '..'.", input: name);
        }

        if (Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
        {
            throw new InvalidClientPathException(field, $"'{field}' is longer than {MaxNameBytes} bytes.", input: name);
        }

        if (name.IndexOfAny(WindowsForbidden.ToCharArray()) is var index and >= 0)
        {
            throw new InvalidClientPathException(field, $"'{field}' contains '{name[index]}', which Windows does not allow in a name.", input: name);
        }

        if (name.EndsWith('.') || name.EndsWith(' '))
        {
            throw new InvalidClientPathException(field, $"'{field}' may not end with a dot or a space (Windows drops them, so the name would change).", input: name);
        }

        if (name.StartsWith(' '))
        {
            throw new InvalidClientPathException(field, $"'{field}' may not start with a space.", input: name);
        }

        if (PortableFileName.DeviceNameOf(name) is { } device)
        {
            throw new InvalidClientPathException(field, $"'{field}' is the Windows device name '{device}', which cannot be a file or folder name.", input: name);
        }

        return name;
    }

    /// <summary>True for <c>CON</c>, <c>nul.txt</c>, <c>COM1.png</c>…: Windows treats them as devices whatever the extension.</summary>
    public static bool IsReservedDeviceName(string segment) => PortableFileName.DeviceNameOf(segment) is not null;
}
