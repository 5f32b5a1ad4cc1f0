using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace DirectorsConsole.Gateway.Hosting;

/// <summary>
/// Warns once the server listens when any address it listens on is reachable from other machines,
/// because nothing in the suite checks who is calling yet.
/// </summary>
public sealed class NetworkExposureWarning(IServer server, ILogger<NetworkExposureWarning> logger) : IHostedLifecycleService
{
    public Task StartedAsync(CancellationToken cancellationToken)
    {
        var exposed = (server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
            .Where(address => !IsLoopback(address))
            .ToArray();
        if (exposed.Length > 0)
        {
            logger.LogWarning(
                "The gateway listens on {Addresses}: the suite has no authentication yet; it is reachable from the network. Set ORCHESTRATOR_HOST=127.0.0.1 to keep it on this machine.",
                string.Join(", ", exposed));
        }

        return Task.CompletedTask;
    }

    /// <summary>True for localhost and loopback IPs; false for wildcards (<c>*</c>, <c>+</c>, 0.0.0.0, [::]) and other hosts.</summary>
    public static bool IsLoopback(string address)
    {
        var host = BindingAddress.Parse(address).Host;
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
               || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
