using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DirectorsConsole.ServiceDefaults.Redis;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

/// <summary>
/// A scripted stand-in for Redis on a loopback port: it reads real RESP commands and answers each with
/// whatever the test's script returns for (connection number, command) — including malformed bytes, or
/// nothing at all. Connections are numbered from 1 in the order they are accepted.
/// </summary>
internal sealed class FakeRedisServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<int, IReadOnlyList<string>, Task<string?>> _script;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accept;
    private int _accepted;

    /// <param name="script">Returns the raw reply to send, null to send nothing, or <see cref="Drop"/> to close the connection.</param>
    public FakeRedisServer(Func<int, IReadOnlyList<string>, Task<string?>> script)
    {
        _script = script;
        _listener.Start();
        _accept = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string ConnectionString => $"127.0.0.1:{Port}";

    public int ConnectionsAccepted => Volatile.Read(ref _accepted);

    /// <summary>Returned by a script: close the connection instead of answering, as a server that dies does.</summary>
    public const string Drop = "\u0000drop";

    /// <summary>Answers the client's handshake (CLIENT SETNAME, HELLO) so scripts only deal with the test's commands.</summary>
    public static string? Handshake(IReadOnlyList<string> command) => command[0].ToUpperInvariant() switch
    {
        "CLIENT" => "+OK\r\n",
        "HELLO" => "%1\r\n+proto\r\n:3\r\n",
        _ => null,
    };

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            var number = Interlocked.Increment(ref _accepted);
            lock (_connections)
            {
                _connections.Add(ServeAsync(socket, number));
            }
        }
    }

    private async Task ServeAsync(Socket socket, int number)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var reader = PipeReader.Create(stream);
        var parser = new RespParser(1024 * 1024);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var result = await reader.ReadAsync(_stop.Token);
                var buffer = result.Buffer;
                var commands = new List<IReadOnlyList<string>>();
                while (parser.TryRead(ref buffer, out var command))
                {
                    commands.Add(command.Items.Select(item => item.AsString()!).ToArray());
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                foreach (var command in commands)
                {
                    var reply = await _script(number, command);
                    if (ReferenceEquals(reply, Drop))
                    {
                        return;
                    }

                    if (reply is not null)
                    {
                        await stream.WriteAsync(Encoding.UTF8.GetBytes(reply), _stop.Token);
                    }
                }

                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
            // The test is over.
        }
        catch (IOException)
        {
            // The client dropped the connection, which is what some tests expect it to do.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accept;
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }

        await Task.WhenAll(connections);
    }
}
