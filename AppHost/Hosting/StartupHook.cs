using DirectorsConsole.AppHost.Hosting;

/// <summary>
/// What the .NET runtime calls in an assembly named in <c>DOTNET_STARTUP_HOOKS</c>, before the program's own
/// <c>Main</c>; the runtime looks for exactly this name outside any namespace. See <see cref="ParentWatch"/>.
/// </summary>
internal static class StartupHook
{
    public static void Initialize() => ParentWatch.Start();
}
