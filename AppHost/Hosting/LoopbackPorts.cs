using System.Net;
using System.Net.Sockets;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Free loopback ports, chosen by binding port 0 and releasing it. Another process can take the port
/// before the service binds it; the service then fails, and its restart tries the same port again.
/// </summary>
public sealed class LoopbackPorts
{
    private readonly HashSet<int> _handedOut = [];

    public int Allocate()
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            if (_handedOut.Add(port))
            {
                return port;
            }
        }

        throw new InvalidOperationException("No free loopback port was found after 100 attempts.");
    }

    /// <summary>Whether <paramref name="host"/>:<paramref name="port"/> can be bound right now.</summary>
    public static bool IsFree(string host, int port)
    {
        var addresses = IPAddress.TryParse(host, out var ip) ? [ip] : Dns.GetHostAddresses(host);
        foreach (var address in addresses)
        {
            try
            {
                using var listener = new TcpListener(address, port);
                listener.Start();
                listener.Stop();
            }
            catch (SocketException)
            {
                return false;
            }
        }

        return true;
    }
}
