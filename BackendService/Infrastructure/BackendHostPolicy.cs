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

    /// <summary>Why the suite must not connect to <paramref name="address"/>, or null when it may. IPv6 forms that
    /// carry an IPv4 address (IPv4-mapped, -compatible and -translated, NAT64, 6to4, Teredo) are judged by the IPv4
    /// address they reach, so no spelling of a metadata or link-local address gets through.</summary>
    public static string? ForbiddenReason(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return ForbiddenIPv4Reason(address.GetAddressBytes());
        }

        var bytes = address.GetAddressBytes();
        if (EmbeddedIPv4(bytes) is ({ } form, { } embedded) && ForbiddenIPv4Reason(embedded) is { } embeddedReason)
        {
            return $"it is the {form} IPv6 form of {new IPAddress(embedded)}, and {embeddedReason}";
        }

        if (address.Equals(AwsMetadataV6))
        {
            return "it is a cloud metadata address (AWS IMDS over IPv6)";
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

    private static string? ForbiddenIPv4Reason(ReadOnlySpan<byte> b) => b switch
    {
        [169, 254, 169, 254] => "it is a cloud metadata address (169.254.169.254)",
        [100, 100, 100, 200] => "it is a cloud metadata address (Alibaba Cloud, 100.100.100.200)",
        [192, 0, 0, 192] => "it is a cloud metadata address (Oracle Cloud, 192.0.0.192)",
        [169, 254, _, _] => "it is a link-local address (169.254.0.0/16)",
        [0, _, _, _] => "it is an unspecified address (0.0.0.0/8)",
        [255, 255, 255, 255] => "it is the broadcast address",
        [>= 224 and <= 239, _, _, _] => "it is a multicast address",
        _ => null,
    };

    /// <summary>The IPv4 address an IPv6 address carries and the name of the form, or nulls when it carries none.</summary>
    private static (string? Form, byte[]? IPv4) EmbeddedIPv4(byte[] b)
    {
        var span = b.AsSpan();
        if (span[..10].IndexOfAnyExcept((byte)0) < 0 && b[10] == 0xff && b[11] == 0xff)
        {
            return ("IPv4-mapped", b[12..16]);
        }

        if (span[..8].IndexOfAnyExcept((byte)0) < 0 && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0)
        {
            return ("IPv4-translated", b[12..16]);
        }

        // ::a.b.c.d, except :: and ::1, which are IPv6's own unspecified and loopback addresses.
        if (span[..12].IndexOfAnyExcept((byte)0) < 0 && (b[12] | b[13] | b[14]) != 0)
        {
            return ("IPv4-compatible", b[12..16]);
        }

        if (span[..12].SequenceEqual((ReadOnlySpan<byte>)[0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]))
        {
            return ("NAT64", b[12..16]);
        }

        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return ("6to4", b[2..6]);
        }

        // Teredo (2001:0::/32) carries the client's IPv4 address inverted in its last four bytes.
        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
        {
            return ("Teredo", b[12..16].Select(x => (byte)~x).ToArray());
        }

        return (null, null);
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
    public static SocketsHttpHandler CreateHandler(TimeSpan connectTimeout) => CreateHandler(connectTimeout, Dns.GetHostAddressesAsync);

    /// <summary>As <see cref="CreateHandler(TimeSpan)"/>, resolving names with <paramref name="resolve"/> (tests give
    /// names that resolve to forbidden addresses).</summary>
    public static SocketsHttpHandler CreateHandler(TimeSpan connectTimeout, Func<string, CancellationToken, Task<IPAddress[]>> resolve) => new()
    {
        ConnectCallback = (context, cancellationToken) => ConnectAsync(context, resolve, cancellationToken),
        ConnectTimeout = connectTimeout,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        AllowAutoRedirect = false,
        UseProxy = false,
    };

    private static async ValueTask<Stream> ConnectAsync(
        SocketsHttpConnectionContext context, Func<string, CancellationToken, Task<IPAddress[]>> resolve, CancellationToken cancellationToken)
    {
        var endPoint = context.DnsEndPoint;
        if (ForbiddenNameReason(endPoint.Host) is { } nameReason)
        {
            throw new HttpRequestException($"Refused to connect to {endPoint.Host}: {nameReason}.");
        }

        var addresses = IPAddress.TryParse(endPoint.Host, out var literal)
            ? [literal]
            : await resolve(endPoint.Host, cancellationToken).ConfigureAwait(false);
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
}
