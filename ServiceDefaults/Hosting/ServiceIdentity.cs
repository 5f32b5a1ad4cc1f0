using System.Reflection;

namespace DirectorsConsole.ServiceDefaults.Hosting;

/// <summary>Who this process is: the resource name the AppHost gave it, its version and instance.</summary>
public sealed record ServiceIdentity(string Name, string Version, string InstanceId)
{
    public static string VersionOf(Assembly? assembly) =>
        assembly?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? assembly?.GetName().Version?.ToString(3)
        ?? "0.0.0";
}
