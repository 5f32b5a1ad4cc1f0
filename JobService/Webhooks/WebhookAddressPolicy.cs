using System.Net;
using System.Net.Sockets;

namespace DirectorsConsole.JobService.Webhooks;

/// <summary>Thrown when every address a webhook's host resolves to is one webhooks may not reach.</summary>
public sealed class WebhookAddressRefusedException(string message) : HttpRequestException(message);

/// <summary>
/// Where webhooks may go. A webhook URL is chosen by a client, so without this check it could make the suite call
/// cloud metadata services, link-local devices or its own unauthenticated ports. Private LAN ranges stay allowed:
/// studios run their receivers there. The check is made on the address actually connected to (after DNS), so a
/// name that resolves to a refused address is refused too; at submit time only what the URL itself shows is checked.
/// </summary>
public static class WebhookAddressPolicy
{
    private static readonly IPAddress AwsMetadataV6 = IPAddress.Parse("fd00:ec2::254");

    /// <summary>Why <paramref name="address"/> may not be called, or null when it may.</summary>
    public static string? Refusal(IPAddress address, bool allowLoopback)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.None))
        {
            return "an unspecified or broadcast address";
        }

        if (IPAddress.IsLoopback(address))
        {
            return allowLoopback ? null : "a loopback address (Webhooks:AllowLoopback is off)";
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var bytes = address.GetAddressBytes();
            return bytes[0] switch
            {
                0 => "an address of 'this network' (0.0.0.0/8)",
                169 when bytes[1] == 254 => "a link-local or cloud metadata address (169.254.0.0/16)",
                >= 224 and <= 239 => "a multicast address",
                >= 240 => "a reserved address (240.0.0.0/4)",
                _ => null,
            };
        }

        if (address.Equals(AwsMetadataV6))
        {
            return "a cloud metadata address";
        }

        if (address.IsIPv6LinkLocal || address.IsIPv6SiteLocal)
        {
            return "a link-local address (fe80::/10)";
        }

        return address.IsIPv6Multicast ? "a multicast address" : null;
    }

    /// <summary>What is wrong with <paramref name="url"/> as a webhook URL on its face (scheme, credentials, a literal
    /// refused address), or null. A host name is resolved only when the webhook is sent.</summary>
    public static string? CheckUrl(Uri url, bool allowLoopback)
    {
        if (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https") || string.IsNullOrEmpty(url.Host))
        {
            return "URL scheme should be 'http' or 'https' with a host";
        }

        if (url.UserInfo.Length > 0)
        {
            return "A webhook URL may not carry credentials (user:password@); put a secret in the path or query instead";
        }

        if (IPAddress.TryParse(url.IdnHost.Trim('[', ']'), out var literal) && Refusal(literal, allowLoopback) is { } refusal)
        {
            return $"Webhooks may not be sent to {refusal}";
        }

        return null;
    }

    /// <summary>A handler that connects only to allowed addresses, follows no redirects and uses no proxy (a proxy
    /// would connect on our behalf, past the check).</summary>
    public static SocketsHttpHandler CreateHandler(bool allowLoopback) => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectCallback = async (context, cancellationToken) =>
        {
            var host = context.DnsEndPoint.Host;
            var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
            string? refusal = null;
            SocketException? lastError = null;
            foreach (var address in addresses)
            {
                if (Refusal(address, allowLoopback) is { } why)
                {
                    refusal ??= why;
                    continue;
                }

                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch (SocketException ex)
                {
                    // Try the host's next address, as a plain connect would.
                    socket.Dispose();
                    lastError = ex;
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }

            if (lastError is not null)
            {
                throw lastError;
            }

            throw refusal is not null
                ? new WebhookAddressRefusedException($"{host} resolves to {refusal}; webhooks may not be sent there")
                : new HttpRequestException($"{host} resolves to no address");
        },
    };
}
