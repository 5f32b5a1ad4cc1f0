using System.Net;
using System.Net.Sockets;
using System.Text;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// A suite's Gateway port is chosen when the suite is built and bound up to minutes later; a server another test starts
/// meanwhile may take it. Waiting for the suite's health must then not take that server's <c>/health</c> for the suite's.
/// </summary>
public sealed class GatewayPortTests
{
    [Fact]
    public void TheProcessListeningOnAPortIsFound()
    {
        // Arrange
        var listener = new TcpListener(IPAddress.Loopback, TestPorts.GetFreeTcpPort());
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        try
        {
            // Act
            var pid = LoopbackListeners.FindPid(port);

            // Assert
            Assert.Equal(Environment.ProcessId, pid);
        }
        finally
        {
            listener.Stop();
        }

        Assert.Null(LoopbackListeners.FindPid(port));
    }

    [Fact]
    public async Task AHealthyAnswerFromAServerThatIsNotTheSuitesIsRefused()
    {
        // Arrange: a server of this test process (not the suite's) answers the suite's Gateway port as healthy.
        var ct = TestContext.Current.CancellationToken;
        var workingDirectory = Directory.CreateTempSubdirectory("dc-port-").FullName;
        await using var suite = new SuiteProcess(workingDirectory);
        var listener = new TcpListener(IPAddress.Loopback, suite.Port);
        listener.Start();
        var serving = ServeHealthyAsync(listener, ct);
        try
        {
            // Act
            var refused = await Assert.ThrowsAsync<GatewayPortTakenException>(
                () => suite.WaitForHealthAsync(status => status == "healthy", TimeSpan.FromSeconds(30), ct));

            // Assert
            Assert.Contains($"Port {suite.Port}", refused.Message, StringComparison.Ordinal);
            Assert.Contains($"pid {Environment.ProcessId}", refused.Message, StringComparison.Ordinal);
        }
        finally
        {
            listener.Stop();
            await serving;
            Directory.Delete(workingDirectory, recursive: true);
        }
    }

    /// <summary>Answers every connection's request with <c>{"status":"healthy"}</c> until the listener stops.</summary>
    private static async Task ServeHealthyAsync(TcpListener listener, CancellationToken cancellationToken)
    {
        const string Body = """{"status":"healthy"}""";
        var response = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {Body.Length}\r\nConnection: close\r\n\r\n{Body}");
        try
        {
            while (true)
            {
                using var client = await listener.AcceptTcpClientAsync(cancellationToken);
                var stream = client.GetStream();
                var request = new byte[4096];
                _ = await stream.ReadAsync(request, cancellationToken);
                await stream.WriteAsync(response, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The listener stopped.
        }
    }
}
