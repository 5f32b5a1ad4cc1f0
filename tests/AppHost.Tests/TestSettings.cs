using DirectorsConsole.AppHost.Extensions;
using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Tests;

/// <summary>A temporary directory standing in for the repo root, settings read from it, and the suite's Aspire
/// model built from them (declared only: nothing is started).</summary>
internal sealed class TempSuiteDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("apphost-tests-").FullName;

    public AppHostSettings Settings(Dictionary<string, string>? environment = null, AppHostCommandLine? commandLine = null) =>
        AppHostSettings.Load(
            commandLine ?? AppHostCommandLine.Parse([]),
            name => environment?.GetValueOrDefault(name),
            Path);

    /// <summary>Settings for a whole model, with the Gateway on a free port (9820 may be taken on this machine).</summary>
    public AppHostSettings SuiteSettings(Dictionary<string, string>? environment = null, params string[] args)
    {
        environment ??= [];
        environment.TryAdd("ORCHESTRATOR_PORT", new LoopbackPorts().Allocate().ToString(System.Globalization.CultureInfo.InvariantCulture));
        return Settings(environment, AppHostCommandLine.Parse(args));
    }

    /// <summary>An empty file its owner may execute (never run: the settings only look for it).</summary>
    public static void WriteExecutable(string path)
    {
        File.WriteAllText(path, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    public IDistributedApplicationBuilder Builder() =>
        DistributedApplication.CreateBuilder(new DistributedApplicationOptions { Args = [], DisableDashboard = true });

    public IDistributedApplicationBuilder Suite(AppHostSettings settings)
    {
        var builder = Builder();
        builder.AddDirectorsConsole(settings);
        return builder;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
