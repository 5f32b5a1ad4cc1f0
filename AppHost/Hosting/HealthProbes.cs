using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>One health check of one replica's endpoint; throws or returns false when unhealthy.</summary>
public interface IHealthProbe
{
    Task<bool> CheckAsync(Uri endpoint, CancellationToken cancellationToken);
}

/// <summary><c>GET {path}</c> must answer 200 (ASP.NET Core's /health answers 503 when unhealthy).</summary>
public sealed class HttpHealthProbe(string path) : IHealthProbe
{
    private static readonly HttpClient Client = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public string Path { get; } = path;

    public async Task<bool> CheckAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        using var response = await Client.GetAsync(new Uri(endpoint, Path), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        return response.IsSuccessStatusCode;
    }
}

/// <summary>
/// RESP <c>PING</c> → <c>+PONG</c> over a raw socket (TLS when asked), after <c>AUTH</c> when a password is
/// set. Sent as a RESP array: Garnet does not accept inline commands.
/// </summary>
public sealed class RespPingProbe(string? user = null, string? password = null, bool tls = false) : IHealthProbe
{
    public async Task<bool> CheckAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        using var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(endpoint.Host, endpoint.Port, cancellationToken);
        await using var stream = await OpenAsync(client, endpoint.Host, cancellationToken);
        if (password is not null)
        {
            var reply = await SendAsync(stream, user is null ? ["AUTH", password] : ["AUTH", user, password], cancellationToken);
            if (reply != "+OK")
            {
                throw new InvalidOperationException($"AUTH was refused: {reply}");
            }
        }

        return await SendAsync(stream, ["PING"], cancellationToken) == "+PONG";
    }

    private async Task<Stream> OpenAsync(TcpClient client, string host, CancellationToken cancellationToken)
    {
        if (!tls)
        {
            return client.GetStream();
        }

        var secure = new SslStream(client.GetStream());
        await secure.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host }, cancellationToken);
        return secure;
    }

    public static async Task<string> SendAsync(Stream stream, IReadOnlyList<string> command, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(Encode(command), cancellationToken);
        return await ReadLineAsync(stream, cancellationToken);
    }

    public static byte[] Encode(IReadOnlyList<string> command)
    {
        var text = new StringBuilder().Append('*').Append(command.Count).Append("\r\n");
        foreach (var part in command)
        {
            text.Append('$').Append(Encoding.UTF8.GetByteCount(part)).Append("\r\n").Append(part).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>Reads one reply line (enough for simple strings, errors and integers).</summary>
    public static async Task<string> ReadLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        var line = new List<byte>();
        var buffer = new byte[1];
        while (await stream.ReadAsync(buffer, cancellationToken) == 1)
        {
            if (buffer[0] == '\n' && line.Count > 0 && line[^1] == '\r')
            {
                return Encoding.UTF8.GetString([.. line[..^1]]);
            }

            line.Add(buffer[0]);
        }

        throw new IOException("the server closed the connection");
    }
}
