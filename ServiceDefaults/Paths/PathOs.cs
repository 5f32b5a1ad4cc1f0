namespace DirectorsConsole.ServiceDefaults.Paths;

/// <summary>The operating systems a path mapping has a prefix for. On the wire: <c>windows</c>, <c>linux</c>,
/// <c>macos</c>.</summary>
public enum PathOs
{
    Windows,
    Linux,
    Macos,
}

public static class PathOsExtensions
{
    extension(PathOs)
    {
        /// <summary>The OS this process runs on. Everything that is neither Windows nor macOS is treated as Linux,
        /// because it uses POSIX paths like Linux does.</summary>
        public static PathOs Current =>
            OperatingSystem.IsWindows() ? PathOs.Windows
            : OperatingSystem.IsMacOS() ? PathOs.Macos
            : PathOs.Linux;

        /// <summary>Reads <c>windows|linux|macos</c> and the aliases clients send (<c>win</c>, <c>darwin</c>,
        /// <c>mac</c>, <c>osx</c>), ignoring case and surrounding blanks.</summary>
        public static bool TryParseName(string? name, out PathOs os)
        {
            switch (name?.Trim().ToLowerInvariant())
            {
                case "windows" or "win" or "win32" or "nt":
                    os = PathOs.Windows;
                    return true;
                case "linux" or "posix":
                    os = PathOs.Linux;
                    return true;
                case "macos" or "mac" or "darwin" or "osx":
                    os = PathOs.Macos;
                    return true;
                default:
                    os = default;
                    return false;
            }
        }
    }

    extension(PathOs os)
    {
        /// <summary>The name used in JSON and in messages.</summary>
        public string WireName => os switch
        {
            PathOs.Windows => "windows",
            PathOs.Linux => "linux",
            PathOs.Macos => "macos",
            _ => throw new ArgumentOutOfRangeException(nameof(os), os, "Unknown operating system."),
        };

        /// <summary>True when paths of this OS are POSIX paths (<c>/…</c>) rather than drive or UNC paths.</summary>
        public bool UsesPosixPaths => os != PathOs.Windows;
    }
}
