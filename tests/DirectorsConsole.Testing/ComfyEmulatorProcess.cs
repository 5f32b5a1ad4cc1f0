using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace DirectorsConsole.Testing;

/// <summary>
/// The ComfyUI emulator (tests/ComfyEmulator) as a separate process on a free loopback port, as the AppHost runs
/// it, so a test can kill and restart a render node the way a real one fails (<see cref="TestServerProcess.KillAsync"/>,
/// then <see cref="TestServerProcess.RestartAsync"/> for a node back with empty queue and history). Extra command-line
/// options (<c>--step-delay-ms 20</c>, <c>--os nt</c>…) are passed as given.
/// </summary>
public sealed class ComfyEmulatorProcess : TestServerProcess
{
    private ComfyEmulatorProcess(int port, IReadOnlyList<string> options)
        : base(port, "dotnet", [LocateAssembly(), "--port", port.ToString(CultureInfo.InvariantCulture), .. options])
    {
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/");

    /// <summary>A client for the emulator's ComfyUI routes and its <c>/_emulator</c> control routes.</summary>
    public HttpClient Client { get; }

    protected override string Description => "The ComfyUI emulator";

    public static async Task<ComfyEmulatorProcess> StartAsync(IReadOnlyList<string>? options = null, CancellationToken cancellationToken = default)
    {
        var emulator = new ComfyEmulatorProcess(TestPorts.GetFreeTcpPort(), options ?? []);
        await emulator.StartProcessAsync(cancellationToken).ConfigureAwait(false);
        return emulator;
    }

    /// <summary>The built emulator assembly (tests/ComfyEmulator/bin/{configuration}/net10.0/ComfyEmulator.dll).</summary>
    public static string LocateAssembly()
    {
        var configuration = typeof(ComfyEmulatorProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "DirectorsConsole.sln")))
        {
            directory = directory.Parent;
        }

        var root = directory?.FullName ?? throw new DirectoryNotFoundException("DirectorsConsole.sln not found above the test folder.");
        var path = Path.Combine(root, "tests", "ComfyEmulator", "bin", configuration, "net10.0", "ComfyEmulator.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("The ComfyUI emulator is not built.", path);
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync().ConfigureAwait(false);
        Client.Dispose();
    }

    protected override void ConfigureStart(ProcessStartInfo startInfo)
    {
        startInfo.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        startInfo.Environment.Remove("ASPNETCORE_URLS");
    }

    protected override async Task<bool> AnswersAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            using var response = await Client.GetAsync("system_stats", timeout.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
