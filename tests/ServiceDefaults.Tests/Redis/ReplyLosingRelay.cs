using System.Net;
using System.Net.Sockets;
using System.Text;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

/// <summary>
/// A loopback relay between a client and its server that can lose replies: while <see cref="LoseReplies"/> is set,
/// commands still reach the server but what it answers is dropped, and <see cref="BreakConnections"/> then closes every
/// connection, so the client sees a connection that died after its command was sent and before the reply came back.
/// New connections pass everything through again.
/// </summary>
internal sealed class ReplyLosingRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];
    private readonly StringBuilder _sentWhileLosing = new();
    private readonly Task _accepting;
    private volatile bool _loseReplies;

    public ReplyLosingRelay(int serverPort)
    {
        _listener.Start();
        ConnectionString = $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _accepting = AcceptAsync(serverPort);
    }

    public string ConnectionString { get; }

    /// <summary>From now until <see cref="BreakConnections"/>, replies are dropped.</summary>
    public void LoseReplies()
    {
        lock (_sentWhileLosing)
        {
            _sentWhileLosing.Clear();
        }

        _loseReplies = true;
    }

    /// <summary>True once bytes containing <paramref name="text"/> went to the server while replies were lost.</summary>
    public bool HasSentWhileLosing(string text)
    {
        lock (_sentWhileLosing)
        {
            return _sentWhileLosing.ToString().Contains(text, StringComparison.Ordinal);
        }
    }

    /// <summary>Closes every open connection; connections made afterwards work normally.</summary>
    public void BreakConnections()
    {
        lock (_connections)
        {
            _loseReplies = false;
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }

            _connections.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        BreakConnections();
        await _accepting;
        _stop.Dispose();
    }

    private async Task AcceptAsync(int serverPort)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var server = new TcpClient();
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, serverPort, _stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                client.Dispose();
                server.Dispose();
                continue;
            }

            lock (_connections)
            {
                _connections.Add(client);
                _connections.Add(server);
            }

            _ = PumpAsync(client, server, toServer: true);
            _ = PumpAsync(server, client, toServer: false);
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, bool toServer)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.GetStream().ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                if (_loseReplies)
                {
                    if (!toServer)
                    {
                        continue;
                    }

                    lock (_sentWhileLosing)
                    {
                        _sentWhileLosing.Append(Encoding.UTF8.GetString(buffer, 0, read));
                    }
                }

                await to.GetStream().WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
            // Broken by the test, or one side closed.
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }
}
