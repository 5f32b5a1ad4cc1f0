using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Hosting;
using DirectorsConsole.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DirectorsConsole.AppHost.Extensions;

/// <summary>
/// A Redis-compatible server the AppHost runs itself, as a plain process on a loopback port it chose (Aspire's own Redis
/// resource needs a container runtime). Its connection string is its address.
/// </summary>
public abstract class LocalRedisResource(string name, string command, string workingDirectory, int port)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    public int Port { get; } = port;

    public Uri Endpoint => new($"redis://{SuiteServiceExtensions.LoopbackHost}:{Port}");

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{SuiteServiceExtensions.LoopbackHost}:{Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}");

    /// <summary>Makes every acknowledged write durable before the server is stopped (by SIGTERM).</summary>
    public abstract Task PrepareToStopAsync(CancellationToken cancellationToken);
}

/// <summary>The embedded Garnet server (<c>dotnet GarnetServer.dll …</c>), with its append-only file and checkpoints
/// under data_dir/redis.</summary>
public sealed class GarnetResource(string name, string command, string workingDirectory, int port)
    : LocalRedisResource(name, command, workingDirectory, port)
{
    /// <summary>
    /// Garnet exits on SIGTERM without committing its append-only file, so the writes of its last few milliseconds
    /// would be lost; the AppHost commits it before stopping Garnet.
    /// </summary>
    public override async Task PrepareToStopAsync(CancellationToken cancellationToken)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(Endpoint.Host, Endpoint.Port, cancellationToken);
        var reply = await RedisPingHealthCheck.SendAsync(client.GetStream(), ["COMMITAOF"], cancellationToken);
        if (!reply.StartsWith('+'))
        {
            throw new InvalidOperationException($"COMMITAOF answered '{reply}'");
        }
    }
}

/// <summary>A <c>redis-server</c> the AppHost runs instead of Garnet (<c>redis_server</c>), with its append-only file
/// under data_dir/redis-server (<see cref="RedisServerCommandLine"/>).</summary>
public sealed class RedisServerResource(string name, string command, string workingDirectory, int port)
    : LocalRedisResource(name, command, workingDirectory, port)
{
    /// <summary>Nothing to do: it syncs its file before every reply (<c>appendfsync always</c>) and again on SIGTERM.</summary>
    public override Task PrepareToStopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public static class RedisExtensions
{
    public const int DefaultRedisPort = 6379;

    /// <summary>An existing Redis when <c>ConnectionStrings__redis</c> (or config.yaml's <c>redis</c>) is set, otherwise
    /// the <c>redis-server</c> that <c>redis_server</c> names, otherwise the embedded Garnet. Each server the AppHost
    /// runs keeps its data in a directory of its own: their files are not interchangeable.</summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddRedisForEnvironment(
        this IDistributedApplicationBuilder builder, string name, AppHostSettings settings, LoopbackPorts ports) =>
        settings switch
        {
            { RedisConnectionString: { } connectionString } => builder.AddRedisConnection(name, connectionString),
            { RedisServerPath: { } redisServer } =>
                builder.AddRedisServer(name, settings, redisServer, ports.Allocate(), Path.Combine(settings.DataDirectory, "redis-server")),
            _ => builder.AddGarnet(name, settings, ports.Allocate(), Path.Combine(settings.DataDirectory, "redis")),
        };

    public static IResourceBuilder<GarnetResource> AddGarnet(
        this IDistributedApplicationBuilder builder, string name, AppHostSettings settings, int port, string dataDirectory)
    {
        string serverAssembly;
        try
        {
            serverAssembly = GarnetCommandLine.LocateServerAssembly(typeof(GarnetResource).Assembly);
        }
        catch (FileNotFoundException ex)
        {
            throw new AppHostConfigurationException(ex.Message, ex);
        }

        Directory.CreateDirectory(dataDirectory);
        return builder.AddLocalRedis(
                new GarnetResource(name, DotNetHost.Path, settings.WorkingDirectory, port),
                GarnetCommandLine.BuildArguments(serverAssembly, port, dataDirectory))
            // The package's runtimeconfig leaves the thread pool's idle workers spinning before they sleep, which took
            // about a fifth of Garnet's CPU under job groups (sched_yield); the suite's own programs turn it off the
            // same way (Directory.Build.props).
            .WithEnvironment(GarnetCommandLine.SpinLimitVariable, "0");
    }

    public static IResourceBuilder<RedisServerResource> AddRedisServer(
        this IDistributedApplicationBuilder builder, string name, AppHostSettings settings, string redisServerPath, int port, string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        return builder.AddLocalRedis(
            new RedisServerResource(name, redisServerPath, settings.WorkingDirectory, port),
            RedisServerCommandLine.BuildArguments(port, dataDirectory));
    }

    /// <summary>The server on its port (not proxied: the services connect to it directly), health-checked by a PING so
    /// the services start once it answers.</summary>
    private static IResourceBuilder<T> AddLocalRedis<T>(this IDistributedApplicationBuilder builder, T server, IReadOnlyList<string> arguments)
        where T : LocalRedisResource
    {
        var healthCheck = $"{server.Name}-ping";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(healthCheck, _ => new RedisPingHealthCheck(server.Endpoint), null, null));
        return builder.AddResource(server)
            .WithArgs([.. arguments])
            .WithEndpoint(port: server.Port, targetPort: server.Port, scheme: "tcp", name: LocalRedisResource.EndpointName, isProxied: false)
            .WithHealthCheck(healthCheck);
    }

    /// <summary>A StackExchange.Redis-style connection string: <c>host[:port][,password=…][,user=…][,ssl=true]</c>.
    /// Nothing is started; the server is only health-checked (so the services wait for it) and passed on.</summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddRedisConnection(
        this IDistributedApplicationBuilder builder, string name, string connectionString)
    {
        var parts = connectionString.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var options = parts.Where(p => p.Contains('=', StringComparison.Ordinal))
            .Select(p => p.Split('=', 2))
            .GroupBy(p => p[0].ToLowerInvariant())
            .ToDictionary(g => g.Key, g => g.Last()[1]);
        var address = parts.FirstOrDefault(p => !p.Contains('=', StringComparison.Ordinal));
        var tls = options.TryGetValue("ssl", out var ssl) && bool.TryParse(ssl, out var useTls) && useTls;
        if (address is null || !Uri.TryCreate($"{(tls ? "rediss" : "redis")}://{address}", UriKind.Absolute, out var endpoint))
        {
            throw new AppHostConfigurationException(
                $"The Redis connection string '{Redact(connectionString)}' names no host (expected host:port[,password=…]).");
        }

        if (endpoint.IsDefaultPort)
        {
            endpoint = new UriBuilder(endpoint) { Port = DefaultRedisPort }.Uri;
        }

        var healthCheck = $"{name}-ping";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(healthCheck,
            _ => new RedisPingHealthCheck(endpoint, options.GetValueOrDefault("user"), options.GetValueOrDefault("password"), tls), null, null));
        return builder.AddConnectionString(name, ReferenceExpression.Create($"{connectionString}")).WithHealthCheck(healthCheck);
    }

    private static string Redact(string connectionString) =>
        string.Join(',', connectionString.Split(',').Select(p => p.Trim().StartsWith("password=", StringComparison.OrdinalIgnoreCase) ? "password=***" : p));
}
