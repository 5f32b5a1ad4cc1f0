using System.Net;
using System.Net.Sockets;

namespace DirectorsConsole.Testing;

public static class TestPorts
{
    /// <summary>A loopback TCP port that was free a moment ago (the OS picks it, so parallel tests do not collide).</summary>
    public static int GetFreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
