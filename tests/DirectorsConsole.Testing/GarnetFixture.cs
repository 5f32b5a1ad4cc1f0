using Xunit;

namespace DirectorsConsole.Testing;

/// <summary>One throw-away Garnet server shared by the tests of a class or collection.</summary>
public sealed class GarnetFixture : IAsyncLifetime
{
    private RedisServerProcess? _server;

    public RedisServerProcess Server => _server ?? throw new InvalidOperationException("The Garnet fixture has not been initialized.");

    public string ConnectionString => Server.ConnectionString;

    public async ValueTask InitializeAsync() => _server = await RedisServerProcess.StartGarnetAsync().ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }
}
