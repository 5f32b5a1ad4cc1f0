using System.Runtime.InteropServices;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>The <c>dotnet</c> executable that runs this AppHost, so services run on the same runtime.</summary>
public static class DotNetHost
{
    public static string Path { get; } = Locate();

    private static string Locate()
    {
        // The runtime directory is <root>/shared/Microsoft.NETCore.App/<version>/.
        var root = System.IO.Path.GetFullPath(System.IO.Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var muxer = System.IO.Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return File.Exists(muxer) ? muxer : "dotnet";
    }
}
