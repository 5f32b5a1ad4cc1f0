using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DirectorsConsole.AppHost.Extensions;
using DirectorsConsole.AppHost.Hosting;
using DirectorsConsole.Hosting;

namespace DirectorsConsole.AppHost.Tests;

/// <summary>The startup hook the AppHost gives its children, tried on Garnet, which knows nothing of the AppHost.</summary>
public sealed class ParentWatchTests
{
    /// <summary>What the AppHost promises after a <c>kill -9</c>: every process it started is gone within this.</summary>
    private static readonly TimeSpan GoneWithin = TimeSpan.FromSeconds(30);

    [Fact]
    public void EveryChildGetsTheHookAfterTheHooksTheAppHostInherited()
    {
        var hook = typeof(ParentWatch).Assembly.Location;

        Assert.Equal(hook, ParentWatch.StartupHooks(null));
        Assert.Equal($"/opt/profiler.dll{Path.PathSeparator}{hook}", ParentWatch.StartupHooks("/opt/profiler.dll"));
    }

    [Fact]
    public async Task GarnetEndsWhenTheProcessNamedAsItsParentIsKilled()
    {
        // Arrange: a stand-in for the AppHost, and Garnet started the way the AppHost starts it
        var ct = TestContext.Current.CancellationToken;
        using var parent = Process.Start(new ProcessStartInfo("sleep", "300") { UseShellExecute = false })!;
        var port = FreePort();
        var info = new ProcessStartInfo(DotNetHost.Path) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in GarnetCommandLine.BuildArguments(GarnetCommandLine.LocateServerAssembly(typeof(GarnetResource).Assembly), port, dataDirectory: null))
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment[ResourceEnvironment.ParentPidVariable] = parent.Id.ToString(CultureInfo.InvariantCulture);
        info.Environment[ParentWatch.StartupHooksVariable] = ParentWatch.StartupHooks(null);
        using var garnet = Process.Start(info)!;
        var output = new StringBuilder();
        garnet.OutputDataReceived += (_, e) => Append(output, e.Data);
        garnet.ErrorDataReceived += (_, e) => Append(output, e.Data);
        garnet.BeginOutputReadLine();
        garnet.BeginErrorReadLine();
        try
        {
            await WaitUntilListeningAsync(port, garnet, ct);

            // Act
            parent.Kill();
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(GoneWithin);
            var ended = await Record.ExceptionAsync(() => garnet.WaitForExitAsync(deadline.Token));

            // Assert
            Assert.Null(ended);
            Assert.True(garnet.HasExited);
            lock (output)
            {
                Assert.Contains($"The AppHost (PID {parent.Id}) has exited", output.ToString(), StringComparison.Ordinal);
            }
        }
        finally
        {
            if (!garnet.HasExited)
            {
                garnet.Kill();
            }
        }
    }

    private static async Task WaitUntilListeningAsync(int port, Process garnet, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 600 && !garnet.HasExited; attempt++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, ct);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100, ct);
            }
        }

        Assert.Fail("Garnet did not start listening");
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
