using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Tests.Redis;
using DirectorsConsole.Testing;

[assembly: AssemblyFixture(typeof(RedisTestServers))]

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

/// <summary>One Garnet and (when installed) one redis-server shared by every Redis test in the assembly.
/// Each is started the first time a test asks for it; tests keep apart by using keys of their own.</summary>
public sealed class RedisTestServers : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<RedisServerKind, RedisServerProcess> _servers = [];

    public static TheoryData<RedisServerKind> Kinds => new(RedisServerKind.Garnet, RedisServerKind.Redis);

    public static TheoryData<RedisServerKind, bool> KindsAndProtocols =>
        new() { { RedisServerKind.Garnet, false }, { RedisServerKind.Garnet, true }, { RedisServerKind.Redis, false }, { RedisServerKind.Redis, true } };

    public async Task<RedisServerProcess> GetAsync(RedisServerKind kind)
    {
        SkipUnlessAvailable(kind);
        await _gate.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            if (!_servers.TryGetValue(kind, out var server))
            {
                server = await RedisServerProcess.StartAsync(kind, cancellationToken: TestContext.Current.CancellationToken);
                _servers[kind] = server;
            }

            return server;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A server of the test's own, for tests that stop or restart it.</summary>
    /// <param name="dataDir">Where the server keeps an append-only file, so its data survives a restart; null keeps nothing.</param>
    public static async Task<RedisServerProcess> StartOwnAsync(RedisServerKind kind, string? dataDir = null)
    {
        SkipUnlessAvailable(kind);
        return await RedisServerProcess.StartAsync(kind, dataDir, TestContext.Current.CancellationToken);
    }

    /// <summary>The options for a server of the test's own, committing after writes where that server needs it.</summary>
    public static RedisOptions Options(RedisServerProcess server, TimeSpan? commandTimeout = null)
    {
        var options = Options(server.ConnectionString, commandTimeout);
        options.CommitWrites = server.ClientsCommitWrites;
        return options;
    }

    public static RedisOptions Options(string connectionString, TimeSpan? commandTimeout = null) => new()
    {
        ConnectionString = connectionString,
        CommandTimeout = commandTimeout ?? TimeSpan.FromSeconds(5),
        ConnectTimeout = TimeSpan.FromSeconds(2),
        ReconnectMinDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
        ClientName = "servicedefaults-tests",
        // Most tests stop the server to see commands fail; the ones about riding out a restart set their own grace.
        OutageGrace = TimeSpan.Zero,
    };

    public static string UniqueName(string prefix) => $"test:{prefix}:{Guid.NewGuid():N}";

    private static void SkipUnlessAvailable(RedisServerKind kind)
    {
        if (kind == RedisServerKind.Redis && !RedisServerProcess.IsRedisServerAvailable)
        {
            Assert.Skip("redis-server is not on PATH, so the real-Redis cases cannot run here (CI installs Debian's redis-server).");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _servers.Values)
        {
            await server.DisposeAsync();
        }
    }
}
