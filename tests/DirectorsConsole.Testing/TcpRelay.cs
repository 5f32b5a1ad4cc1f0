using System.Net;
using System.Net.Sockets;
using System.Text;

namespace DirectorsConsole.Testing;

/// <summary>
/// A loopback TCP relay between a client and its server that a test can break in the ways a network breaks:
/// <see cref="Cut"/> drops every connection and refuses new ones, as if the client's host had died;
/// <see cref="LoseReplies"/> lets commands still reach the server but drops what it answers, and
/// <see cref="BreakConnections"/> then closes every connection, so the client sees a connection that died after its
/// command was sent and before the reply came back (connections made afterwards pass everything through again);
/// <see cref="LoseRepliesOnceSent"/> does the same from the moment a given command goes to the server, for a command the
/// client sends of its own accord after another one's reply.
/// </summary>
public sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _cut = new();
    private readonly List<TcpClient> _connections = [];
    private readonly StringBuilder _sentWhileLosing = new();
    private readonly Task _accepting;
    private volatile bool _loseReplies;
    private volatile string? _loseRepliesFrom;

    public TcpRelay(int targetPort)
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync(targetPort);
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>Drops every connection and refuses new ones from now on.</summary>
    public void Cut()
    {
        _cut.Cancel();
        _listener.Stop();
        BreakConnections();
    }

    /// <summary>From now until <see cref="BreakConnections"/>, replies are dropped.</summary>
    public void LoseReplies()
    {
        lock (_sentWhileLosing)
        {
            _sentWhileLosing.Clear();
        }

        _loseReplies = true;
    }

    /// <summary>From the moment bytes containing <paramref name="text"/> go to the server (those bytes included) until
    /// <see cref="BreakConnections"/>, replies are dropped.</summary>
    public void LoseRepliesOnceSent(string text)
    {
        lock (_sentWhileLosing)
        {
            _sentWhileLosing.Clear();
        }

        _loseRepliesFrom = text;
    }

    /// <summary>True once bytes containing <paramref name="text"/> went to the server while replies were lost.</summary>
    public bool HasSentWhileLosing(string text)
    {
        lock (_sentWhileLosing)
        {
            return _sentWhileLosing.ToString().Contains(text, StringComparison.Ordinal);
        }
    }

    /// <summary>Closes every open connection; unless the relay was cut, connections made afterwards work normally.</summary>
    public void BreakConnections()
    {
        lock (_connections)
        {
            _loseReplies = false;
            _loseRepliesFrom = null;
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }

            _connections.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Cut();
        await _accepting;
        _cut.Dispose();
    }

    private async Task AcceptAsync(int targetPort)
    {
        while (!_cut.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_cut.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(IPAddress.Loopback, targetPort, _cut.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }

            lock (_connections)
            {
                if (_cut.IsCancellationRequested)
                {
                    inbound.Dispose();
                    outbound.Dispose();
                    return;
                }

                _connections.Add(inbound);
                _connections.Add(outbound);
            }

            _ = PumpAsync(inbound, outbound, toServer: true);
            _ = PumpAsync(outbound, inbound, toServer: false);
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, bool toServer)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.GetStream().ReadAsync(buffer, _cut.Token);
                if (read == 0)
                {
                    break;
                }

                if (toServer && _loseRepliesFrom is { } trigger && Encoding.UTF8.GetString(buffer, 0, read).Contains(trigger, StringComparison.Ordinal))
                {
                    // Set before the bytes are forwarded: the server's answer to them cannot come back first.
                    _loseRepliesFrom = null;
                    _loseReplies = true;
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

                await to.GetStream().WriteAsync(buffer.AsMemory(0, read), _cut.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
            // Cut or broken by the test, or one side closed.
        }
        finally
        {
            // One side closed: close the other, as a relay that forwards a FIN would.
            from.Dispose();
            to.Dispose();
        }
    }
}
