using System.Net;
using System.Net.Sockets;

namespace DirectorsConsole.Testing;

public static class TestPorts
{
    private const int LowestPort = 20000;

    /// <summary>A loopback TCP port that was free a moment ago, below the operating system's ephemeral range: a port in
    /// that range can be taken at any moment as the local port of one of the many outgoing connections parallel tests
    /// make, and a server started on it later would fail to bind.</summary>
    public static int GetFreeTcpPort()
    {
        var below = EphemeralRangeStart();
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(LowestPort, below);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken; try another.
            }
        }

        throw new InvalidOperationException($"No free loopback port between {LowestPort} and {below} after 200 attempts.");
    }

    private static int EphemeralRangeStart()
    {
        const int Iana = 49152;
        var path = "/proc/sys/net/ipv4/ip_local_port_range";
        return File.Exists(path) && int.TryParse(File.ReadAllText(path).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0], out var start) && start > LowestPort + 1000
            ? start
            : Iana;
    }
}
