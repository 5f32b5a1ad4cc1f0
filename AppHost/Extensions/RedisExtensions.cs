using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Hosting;
using DirectorsConsole.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DirectorsConsole.AppHost.Extensions;

/// <summary>
/// The embedded Garnet server, run by Aspire as <c>dotnet GarnetServer.dll …</c> on a loopback port the AppHost
/// chose, with its append-only file and checkpoints under data_dir/redis. Aspire's own Redis resource needs a
/// container runtime; this one is a plain process. Its connection string is its address.
/// </summary>
public sealed class GarnetResource(string name, string command, string workingDirectory, int port)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    public int Port { get; } = port;

    public Uri Endpoint => new($"redis://{SuiteServiceExtensions.LoopbackHost}:{Port}");

    /// <summary>
    /// Garnet exits on SIGTERM without committing its append-only file, so the writes of its last few milliseconds
    /// would be lost; the AppHost commits it before stopping Garnet.
    /// </summary>
    public async Task CommitAppendOnlyFileAsync(CancellationToken cancellationToken)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(Endpoint.Host, Endpoint.Port, cancellationToken);
        var reply = await RedisPingHealthCheck.SendAsync(client.GetStream(), ["COMMITAOF"], cancellationToken);
        if (!reply.StartsWith('+'))
        {
            throw new InvalidOperationException($"COMMITAOF answered '{reply}'");
        }
    }

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{SuiteServiceExtensions.LoopbackHost}:{Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
}

public static class RedisExtensions
{
    public const int DefaultRedisPort = 6379;

    /// <summary>An existing Redis when <c>ConnectionStrings__redis</c> (or config.yaml's <c>redis</c>) is set,
    /// otherwise the embedded Garnet.</summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddRedisForEnvironment(
        this IDistributedApplicationBuilder builder, string name, AppHostSettings settings, LoopbackPorts ports) =>
        settings.RedisConnectionString is { } connectionString
            ? builder.AddRedisConnection(name, connectionString)
            : builder.AddGarnet(name, settings, ports.Allocate(), Path.Combine(settings.DataDirectory, "redis"));

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
        var garnet = new GarnetResource(name, DotNetHost.Path, settings.WorkingDirectory, port);
        var healthCheck = $"{name}-ping";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(healthCheck, _ => new RedisPingHealthCheck(garnet.Endpoint), null, null));
        return builder.AddResource(garnet)
            .WithArgs([.. GarnetCommandLine.BuildArguments(serverAssembly, port, dataDirectory)])
            .WithEndpoint(port: port, targetPort: port, scheme: "tcp", name: GarnetResource.EndpointName, isProxied: false)
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
