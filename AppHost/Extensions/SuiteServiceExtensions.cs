using System.Globalization;
using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Extensions;

/// <summary>
/// One service of the suite: one Aspire project resource per replica, each on a loopback port the AppHost chose.
/// A single replica is named after the service; replicas of one are named <c>{service}-{i}</c>.
/// </summary>
public sealed record SuiteService(string Name, IReadOnlyList<IResourceBuilder<ProjectResource>> Replicas, IReadOnlyList<int> Ports);

/// <summary>
/// How the suite's services are declared. Every endpoint is <b>not proxied</b>: each replica listens on its own port
/// and its referrers get every replica's address (<c>services__{name}__http__{i}</c>). Aspire's own replicas
/// (<c>WithReplicas</c>) sit behind one DCP proxy port instead; a dead replica behind it shows up as a connection
/// that was accepted and then reset, which a caller cannot tell from a request that was received and lost, so the
/// Gateway could not send a POST to another replica safely. A refused connection to a replica's own port is
/// unambiguous: the request never arrived.
/// </summary>
public static class SuiteServiceExtensions
{
    public const string LoopbackHost = "127.0.0.1";
    public const string HealthPath = "/health";

    /// <summary>How long a service's last telemetry export may take when it stops. Aspire asks every project to
    /// retry exports in memory; with the dashboard gone (Ctrl+C, or none in tests) the last flush would hold each
    /// service for 10 s, longer than the orchestrator waits before killing it.</summary>
    public const string OtlpExportTimeoutMilliseconds = "2000";

    public static SuiteService AddSuiteService<TProject>(
        this IDistributedApplicationBuilder builder, string name, AppHostSettings settings, LoopbackPorts ports, int replicas = 1)
        where TProject : IProjectMetadata, new()
    {
        var resources = new List<IResourceBuilder<ProjectResource>>();
        var allocated = new List<int>();
        for (var i = 0; i < replicas; i++)
        {
            var port = ports.Allocate();
            resources.Add(builder.AddSuiteProject<TProject>(replicas == 1 ? name : $"{name}-{i}", name, i, settings, LoopbackHost, port)
                .WithHttpHealthCheck(HealthPath));
            allocated.Add(port);
        }

        return new SuiteService(name, resources, allocated);
    }

    /// <summary>A project resource with the suite's environment, listening exactly on <paramref name="host"/>:<paramref name="port"/>
    /// (no launch profile: the AppHost decides every address).</summary>
    public static IResourceBuilder<ProjectResource> AddSuiteProject<TProject>(
        this IDistributedApplicationBuilder builder, string resourceName, string serviceName, int replica, AppHostSettings settings, string host, int port)
        where TProject : IProjectMetadata, new() =>
        builder.AddProject<TProject>(resourceName, options => options.ExcludeLaunchProfile = true)
            .WithHttpEndpoint(port: port, targetPort: port, name: "http", isProxied: false)
            .WithEndpoint("http", endpoint => endpoint.TargetHost = host)
            .WithSuiteEnvironment(serviceName, replica, settings);

    /// <summary>What every service reads besides its references: its name and replica (one log file and one
    /// telemetry service per service, one instance id per replica that stays across restarts) and config.yaml's
    /// settings as the AppHost resolved them.</summary>
    public static IResourceBuilder<T> WithSuiteEnvironment<T>(this IResourceBuilder<T> builder, string serviceName, int replica, AppHostSettings settings)
        where T : IResourceWithEnvironment =>
        builder.WithEnvironment(context =>
        {
            var environment = context.EnvironmentVariables;
            environment["ASPNETCORE_ENVIRONMENT"] = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") is { Length: > 0 } name ? name : "Production";
            environment["OTEL_SERVICE_NAME"] = serviceName;
            environment["OTEL_SERVICE_INSTANCE_ID"] = $"{serviceName}-{replica.ToString(CultureInfo.InvariantCulture)}";
            environment["OTEL_EXPORTER_OTLP_TIMEOUT"] = OtlpExportTimeoutMilliseconds;
            environment["ORCHESTRATOR_CONFIG"] = settings.ConfigFile;
            environment["ORCHESTRATOR_DATA_DIR"] = settings.DataDirectory;
            environment["ORCHESTRATOR_LOG_DIR"] = settings.LogDirectory;
            environment["ORCHESTRATOR_HOST"] = settings.Host;
            environment["ORCHESTRATOR_PORT"] = settings.Port.ToString(CultureInfo.InvariantCulture);
            // The Gateway adds it to what it forwards; every service refuses a request without it (probes aside).
            environment["ORCHESTRATOR_GATEWAY_SECRET"] = settings.GatewaySecret;
            // Aspire names its dashboard's collector even when there is no dashboard; exporting there would only fail.
            if (!settings.Dashboard && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")))
            {
                environment.Remove("OTEL_EXPORTER_OTLP_ENDPOINT");
            }
        });

    /// <summary>Gives <paramref name="builder"/> the address of every replica of <paramref name="service"/> in
    /// Aspire's service-discovery form and starts it only once they are healthy.</summary>
    public static IResourceBuilder<T> WithServiceReference<T>(this IResourceBuilder<T> builder, SuiteService service)
        where T : IResourceWithEnvironment, IResourceWithWaitSupport
    {
        for (var i = 0; i < service.Replicas.Count; i++)
        {
            builder.WithEnvironment($"services__{service.Name}__http__{i.ToString(CultureInfo.InvariantCulture)}",
                    $"http://{LoopbackHost}:{service.Ports[i].ToString(CultureInfo.InvariantCulture)}")
                .WithReferenceRelationship(service.Replicas[i])
                .WaitFor(service.Replicas[i]);
        }

        return builder;
    }

    /// <summary>Every replica gets the addresses of <paramref name="other"/>'s replicas (<c>services__{name}__http__{i}</c>),
    /// without waiting for it: a call made before it answers fails as a call to a service that is down.</summary>
    public static SuiteService WithServiceAddresses(this SuiteService service, SuiteService other)
    {
        foreach (var replica in service.Replicas)
        {
            for (var i = 0; i < other.Replicas.Count; i++)
            {
                replica.WithEnvironment($"services__{other.Name}__http__{i.ToString(CultureInfo.InvariantCulture)}",
                    $"http://{LoopbackHost}:{other.Ports[i].ToString(CultureInfo.InvariantCulture)}");
            }
        }

        return service;
    }

    /// <summary>Every replica gets the Redis connection string and starts once Redis answers.</summary>
    public static SuiteService WithRedis(this SuiteService service, IResourceBuilder<IResourceWithConnectionString> redis)
    {
        foreach (var replica in service.Replicas)
        {
            replica.WithRedisClient(redis);
        }

        return service;
    }

    /// <summary>The Redis connection string, a start once Redis answers, and, for the embedded Garnet, whose replies
    /// do not wait for its append-only file, the client's own commit after each write (<c>Redis__CommitWrites</c>).</summary>
    public static IResourceBuilder<ProjectResource> WithRedisClient(
        this IResourceBuilder<ProjectResource> project, IResourceBuilder<IResourceWithConnectionString> redis)
    {
        project.WithReference(redis).WaitFor(redis);
        return redis.Resource is GarnetResource ? project.WithEnvironment("Redis__CommitWrites", "true") : project;
    }
}
