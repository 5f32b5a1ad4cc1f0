using System.Globalization;
using System.Net;
using DirectorsConsole.ServiceDefaults.Access;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.Gateway.Hosting;

/// <summary>
/// Keeps an open suite off the network: when callers without a token have a role (no clients configured, or an
/// <c>anonymous_role</c>) the gateway refuses to start on an address other machines can reach, unless
/// <c>allow_anonymous_network: true</c> says that is meant; then it warns. The configured addresses are checked
/// before the server binds; the addresses it really listens on are checked again once it does (endpoints may also
/// come from Kestrel's own configuration).
/// </summary>
public sealed class NetworkExposureGuard(
    IServer server,
    IConfiguration configuration,
    IOptions<AccessOptions> access,
    IHostApplicationLifetime lifetime,
    ILogger<NetworkExposureGuard> logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        Check(ConfiguredAddresses(configuration));
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        var exposed = Check(server.Features.Get<IServerAddressesFeature>()?.Addresses ?? []);
        if (exposed.Length > 0 && access.Value.EffectiveAnonymousRole != ClientRole.None)
        {
            logger.LogWarning(
                "The gateway listens on {Addresses}, reachable from the network, and callers without a token get the role {Role} (allow_anonymous_network is set).",
                string.Join(", ", exposed), access.Value.EffectiveAnonymousRole.Name());
        }

        return Task.CompletedTask;
    }

    /// <summary>The addresses reachable from other machines; throws when listening there is refused.</summary>
    private string[] Check(IEnumerable<string> addresses)
    {
        var exposed = addresses.Where(address => !IsLoopback(address)).ToArray();
        if (exposed.Length > 0 && access.Value.NetworkExposureRefusal(string.Join(", ", exposed)) is { } refusal)
        {
            logger.LogCritical("{Refusal}", refusal);
            lifetime.StopApplication();
            throw new InvalidOperationException(refusal);
        }

        return exposed;
    }

    /// <summary>What Kestrel will bind from the host settings: <c>urls</c>, or every interface for <c>http_ports</c> and <c>https_ports</c>.</summary>
    public static IEnumerable<string> ConfiguredAddresses(IConfiguration configuration)
    {
        var urls = (configuration[WebHostDefaults.ServerUrlsKey] ?? "").Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var ports = $"{configuration[WebHostDefaults.HttpPortsKey]};{configuration[WebHostDefaults.HttpsPortsKey]}"
            .Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(port => string.Create(CultureInfo.InvariantCulture, $"http://*:{port}"));
        return urls.Concat(ports);
    }

    /// <summary>True for localhost and loopback IPs; false for wildcards (<c>*</c>, <c>+</c>, 0.0.0.0, [::]) and other hosts.</summary>
    public static bool IsLoopback(string address)
    {
        var host = BindingAddress.Parse(address).Host;
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
               || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
