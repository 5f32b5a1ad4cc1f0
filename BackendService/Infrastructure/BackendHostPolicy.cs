using System.Net;
using System.Net.Sockets;

namespace DirectorsConsole.BackendService.Infrastructure;

/// <summary>
/// Which hosts a backend may name and which addresses the suite may connect to. Render nodes live on the LAN
/// (and emulators on loopback), so private and loopback addresses are allowed; what is refused is what a
/// backend URL could be abused to reach: cloud metadata services, link-local, unspecified, multicast and
/// broadcast addresses. Names are not resolved when a backend is saved (the node may be offline), so
/// <see cref="CreateHandler"/> checks every resolved address again when it connects: a DNS name pointing at a
/// metadata address is refused then.
/// </summary>
public static class BackendHostPolicy
{
    // Names of metadata services that resolve only inside a cloud (GCP, Azure, AWS, Oracle, Tencent, Alibaba, Equinix).
    private static readonly string[] MetadataNames =
    [
        "metadata", "metadata.google.internal", "metadata.goog", "metadata.azure.com", "metadata.azure.internal",
        "instance-data", "instance-data.ec2.internal", "metadata.oraclecloud.com", "metadata.tencentyun.com",
        "metadata.aliyun.com", "metadata.platformequinix.com",
    ];

    private static readonly IPAddress AwsMetadataV6 = IPAddress.Parse("fd00:ec2::254");
    private static readonly IPAddress AlibabaMetadata = IPAddress.Parse("100.100.100.200");
    private static readonly IPAddress Nat64Prefix = IPAddress.Parse("64:ff9b::");

    /// <summary>Why the suite must not connect to <paramref name="address"/>, or null when it may.</summary>
    public static string? ForbiddenReason(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return ForbiddenReason(address.MapToIPv4());
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6 && IsNat64(address, out var embedded))
        {
            return ForbiddenReason(embedded);
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b switch
            {
                [169, 254, 169, 254] => "it is a cloud metadata address",
                [169, 254, _, _] => "it is a link-local address (169.254.0.0/16)",
                [0, _, _, _] => "it is an unspecified address (0.0.0.0/8)",
                [255, 255, 255, 255] => "it is the broadcast address",
                [>= 224 and <= 239, _, _, _] => "it is a multicast address",
                _ when address.Equals(AlibabaMetadata) => "it is a cloud metadata address",
                _ => null,
            };
        }

        if (address.Equals(AwsMetadataV6))
        {
            return "it is a cloud metadata address";
        }

        if (address.Equals(IPAddress.IPv6Any))
        {
            return "it is the unspecified address (::)";
        }

        if (address.IsIPv6LinkLocal)
        {
            return "it is a link-local address (fe80::/10)";
        }

        return address.IsIPv6Multicast ? "it is a multicast address" : null;
    }

    /// <summary>Why a backend must not use the DNS name <paramref name="host"/>, or null when it may.</summary>
    public static string? ForbiddenNameReason(string host)
    {
        var name = host.TrimEnd('.');
        return MetadataNames.Any(m => name.Equals(m, StringComparison.OrdinalIgnoreCase) || name.EndsWith("." + m, StringComparison.OrdinalIgnoreCase))
            ? "it is a cloud metadata service name"
            : null;
    }

    /// <summary>The handler every ComfyUI client of this service uses: it resolves the host itself and connects
    /// only to addresses <see cref="ForbiddenReason"/> allows, so no name can lead to a metadata endpoint.</summary>
    public static SocketsHttpHandler CreateHandler(TimeSpan connectTimeout) => new()
    {
        ConnectCallback = ConnectAsync,
        ConnectTimeout = connectTimeout,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        AllowAutoRedirect = false,
        UseProxy = false,
    };

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var endPoint = context.DnsEndPoint;
        if (ForbiddenNameReason(endPoint.Host) is { } nameReason)
        {
            throw new HttpRequestException($"Refused to connect to {endPoint.Host}: {nameReason}.");
        }

        var addresses = IPAddress.TryParse(endPoint.Host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endPoint.Host, cancellationToken).ConfigureAwait(false);
        var allowed = addresses.Where(a => ForbiddenReason(a) is null).ToArray();
        if (allowed.Length == 0)
        {
            var reason = addresses.Length == 0 ? "it resolves to no address" : $"it resolves to {addresses[0]} and {ForbiddenReason(addresses[0])}";
            throw new HttpRequestException($"Refused to connect to {endPoint.Host}: {reason}.");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, endPoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static bool IsNat64(IPAddress address, out IPAddress embedded)
    {
        var bytes = address.GetAddressBytes();
        var prefix = Nat64Prefix.GetAddressBytes();
        embedded = IPAddress.None;
        if (!bytes.AsSpan(0, 12).SequenceEqual(prefix.AsSpan(0, 12)))
        {
            return false;
        }

        embedded = new IPAddress(bytes.AsSpan(12, 4));
        return true;
    }
}
