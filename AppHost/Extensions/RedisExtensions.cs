using System.Net.Sockets;
using DirectorsConsole.AppHost.Hosting;
using DirectorsConsole.Hosting;

namespace DirectorsConsole.AppHost.Extensions;

/// <summary>The embedded Garnet server, listening on a free loopback port with its data under data_dir/redis.</summary>
public sealed class GarnetResource(string name, string workingDirectory)
    : ExecutableResource(name, DotNetHost.Path, "tcp", workingDirectory), IResourceWithConnectionString
{
    public string ConnectionString => $"{LoopbackHost}:{Ports[0]}";
}

/// <summary>An existing Redis, Valkey or Garnet named by a connection string; only health-checked.</summary>
public sealed class RedisConnectionResource(string name, string connectionString, Uri endpoint)
    : ExternalResource(name, [endpoint]), IResourceWithConnectionString
{
    public string ConnectionString { get; } = connectionString;
}

public static class RedisExtensions
{
    public const int DefaultRedisPort = 6379;

    /// <summary>An existing Redis when <c>ConnectionStrings__redis</c> (or config.yaml's <c>redis</c>) is set,
    /// otherwise the embedded Garnet.</summary>
    public static IResourceBuilder<Resource> AddRedisForEnvironment(this DistributedApplicationBuilder builder, string name) =>
        builder.Settings.RedisConnectionString is { } connectionString
            ? builder.AddRedisConnection(name, connectionString)
            : builder.AddGarnet(name, Path.Combine(builder.Settings.DataDirectory, "redis"));

    public static IResourceBuilder<GarnetResource> AddGarnet(this DistributedApplicationBuilder builder, string name, string dataDirectory)
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
        return builder.AddResource(new GarnetResource(name, builder.Settings.WorkingDirectory))
            .WithArgs(port => GarnetCommandLine.BuildArguments(serverAssembly, port, dataDirectory))
            .WithHealthProbe(new RespPingProbe())
            .WithBeforeStop(CommitAppendOnlyFileAsync)
            .AsSingleton();
    }

    /// <summary>Garnet exits on SIGTERM without committing its append-only file; the last writes would be
    /// lost, so commit it first.</summary>
    private static async Task CommitAppendOnlyFileAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(endpoint.Host, endpoint.Port, cancellationToken);
        var reply = await RespPingProbe.SendAsync(client.GetStream(), ["COMMITAOF"], cancellationToken);
        if (!reply.StartsWith('+'))
        {
            throw new InvalidOperationException($"COMMITAOF answered '{reply}'");
        }
    }

    /// <summary>A StackExchange.Redis-style connection string: <c>host[:port][,password=…][,user=…][,ssl=true]</c>.</summary>
    public static IResourceBuilder<RedisConnectionResource> AddRedisConnection(
        this DistributedApplicationBuilder builder, string name, string connectionString)
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

        return builder.AddResource(new RedisConnectionResource(name, connectionString, endpoint))
            .WithHealthProbe(new RespPingProbe(options.GetValueOrDefault("user"), options.GetValueOrDefault("password"), tls));
    }

    private static string Redact(string connectionString) =>
        string.Join(',', connectionString.Split(',').Select(p => p.Trim().StartsWith("password=", StringComparison.OrdinalIgnoreCase) ? "password=***" : p));
}
