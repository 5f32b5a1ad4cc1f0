using System.Net;
using System.Net.Sockets;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Free loopback ports for the services, chosen below the operating system's ephemeral range. A port in that range,
/// free when chosen, can be taken at any moment as the local port of an outgoing connection (to Redis, to a node…), and
/// a service that binds it at start, or again after a restart, would then fail for as long as that connection lives.
/// Below the range only a process that binds it on purpose can take the port; the service then fails, and its restart
/// tries the same port again.
/// </summary>
public sealed class LoopbackPorts
{
    private readonly HashSet<int> _handedOut = [];

    /// <summary>The lowest port handed out: above the well-known and most registered server ports.</summary>
    public const int LowestPort = 20000;

    public int Allocate()
    {
        var below = EphemeralRangeStart();
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(LowestPort, below);
            if (!_handedOut.Contains(port) && IsFree(IPAddress.Loopback.ToString(), port))
            {
                _handedOut.Add(port);
                return port;
            }
        }

        throw new InvalidOperationException($"No free loopback port was found between {LowestPort} and {below} after 200 attempts.");
    }

    /// <summary>The first port the operating system may give an outgoing connection: Linux says so in
    /// <c>/proc/sys/net/ipv4/ip_local_port_range</c>; Windows and macOS use IANA's 49152.</summary>
    public static int EphemeralRangeStart()
    {
        const int Iana = 49152;
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return int.TryParse(range[0], out var start) && start > LowestPort + 1000 ? start : Iana;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or IndexOutOfRangeException)
        {
            return Iana;
        }
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
