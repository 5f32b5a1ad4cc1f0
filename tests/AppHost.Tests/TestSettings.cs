using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Tests;

/// <summary>A temporary directory standing in for the repo root, and settings read from it.</summary>
internal sealed class TempSuiteDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("apphost-tests-").FullName;

    public AppHostSettings Settings(Dictionary<string, string>? environment = null, AppHostCommandLine? commandLine = null) =>
        AppHostSettings.Load(
            commandLine ?? AppHostCommandLine.Parse([]),
            name => environment?.GetValueOrDefault(name),
            Path);

    public DistributedApplicationBuilder Builder(AppHostSettings? settings = null) =>
        new(settings ?? Settings(), TextWriter.Null, interactive: false, TimeProvider.System);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
