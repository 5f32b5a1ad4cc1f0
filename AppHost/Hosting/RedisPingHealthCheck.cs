using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Whether a Redis-compatible server answers: RESP <c>PING</c> → <c>+PONG</c> over a raw socket (TLS when asked),
/// after <c>AUTH</c> when a password is set. The AppHost references no Redis client library for one command; it is
/// sent as a RESP array because Garnet does not accept inline commands.
/// </summary>
public sealed class RedisPingHealthCheck(Uri endpoint, string? user = null, string? password = null, bool tls = false) : IHealthCheck
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            using var client = new TcpClient { NoDelay = true };
            await client.ConnectAsync(endpoint.Host, endpoint.Port, timeout.Token);
            await using var stream = await OpenAsync(client, timeout.Token);
            if (password is not null)
            {
                var reply = await SendAsync(stream, user is null ? ["AUTH", password] : ["AUTH", user, password], timeout.Token);
                if (reply != "+OK")
                {
                    return HealthCheckResult.Unhealthy($"AUTH was refused: {reply}");
                }
            }

            var pong = await SendAsync(stream, ["PING"], timeout.Token);
            return pong == "+PONG" ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy($"PING answered '{pong}'");
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"{endpoint.Host}:{endpoint.Port} does not answer PING: {ex.Message}");
        }
    }

    private async Task<Stream> OpenAsync(TcpClient client, CancellationToken cancellationToken)
    {
        if (!tls)
        {
            return client.GetStream();
        }

        var secure = new SslStream(client.GetStream());
        await secure.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = endpoint.Host }, cancellationToken);
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
