namespace DirectorsConsole.AppHost.Hosting;

/// <summary>A resource being declared, like Aspire's <c>IResourceBuilder&lt;T&gt;</c> (covariant, so one
/// variable can hold an embedded or an external Redis).</summary>
public interface IResourceBuilder<out T>
    where T : Resource
{
    T Resource { get; }

    DistributedApplicationBuilder ApplicationBuilder { get; }
}

internal sealed record ResourceBuilder<T>(T Resource, DistributedApplicationBuilder ApplicationBuilder) : IResourceBuilder<T>
    where T : Resource;

public static class ResourceBuilderExtensions
{
    /// <summary>Gives <paramref name="builder"/> the address of <paramref name="source"/>: its connection
    /// string, or <c>services__{name}__http__{i}</c> for every replica i.</summary>
    public static IResourceBuilder<T> WithReference<T>(this IResourceBuilder<T> builder, IResourceBuilder<Resource> source)
        where T : Resource
    {
        builder.Resource.References.Add(source.Resource);
        return builder;
    }

    /// <summary>Starts <paramref name="builder"/> only once every replica of <paramref name="dependency"/> is healthy.</summary>
    public static IResourceBuilder<T> WaitFor<T>(this IResourceBuilder<T> builder, IResourceBuilder<Resource> dependency)
        where T : Resource
    {
        builder.Resource.WaitsFor.Add(dependency.Resource);
        return builder;
    }

    /// <summary>Sets an environment variable whose value is computed when the process starts (after every port is chosen).</summary>
    public static IResourceBuilder<T> WithEnvironment<T>(this IResourceBuilder<T> builder, string name, Func<string> value)
        where T : Resource
    {
        builder.Resource.Environment[name] = value;
        return builder;
    }

    /// <summary>The number of replicas unless <c>--replicas</c> says otherwise.</summary>
    public static IResourceBuilder<T> WithReplicas<T>(this IResourceBuilder<T> builder, int replicas)
        where T : ExecutableResource
    {
        builder.Resource.Replicas = replicas;
        return builder;
    }

    public static IResourceBuilder<T> WithHttpHealthCheck<T>(this IResourceBuilder<T> builder, string path)
        where T : Resource => builder.WithHealthProbe(new HttpHealthProbe(path));

    public static IResourceBuilder<T> WithHealthProbe<T>(this IResourceBuilder<T> builder, IHealthProbe probe)
        where T : Resource
    {
        builder.Resource.HealthProbe = probe;
        return builder;
    }

    public static IResourceBuilder<T> WithArgs<T>(this IResourceBuilder<T> builder, Func<int, IReadOnlyList<string>> argumentsForPort)
        where T : ExecutableResource
    {
        builder.Resource.Arguments = argumentsForPort;
        return builder;
    }

    /// <summary>Appends arguments to those the resource already has (a project's are <c>{assembly}</c>).</summary>
    public static IResourceBuilder<T> WithAdditionalArgs<T>(this IResourceBuilder<T> builder, Func<int, IReadOnlyList<string>> argumentsForPort)
        where T : ExecutableResource
    {
        var existing = builder.Resource.Arguments;
        builder.Resource.Arguments = port => [.. existing(port), .. argumentsForPort(port)];
        return builder;
    }

    public static IResourceBuilder<T> WithBeforeStop<T>(this IResourceBuilder<T> builder, Func<Uri, CancellationToken, Task> beforeStop)
        where T : ExecutableResource
    {
        builder.Resource.BeforeStop = beforeStop;
        return builder;
    }

    /// <summary>Listens on a fixed, public address instead of a free loopback port; a single replica only.</summary>
    public static IResourceBuilder<T> WithExternalHttpEndpoint<T>(this IResourceBuilder<T> builder, string host, int port)
        where T : ExecutableResource
    {
        builder.Resource.ExternalEndpoint = (host, port);
        return builder.AsSingleton();
    }

    /// <summary>Marks a resource that must run once (it owns a fixed port or a data directory).</summary>
    public static IResourceBuilder<T> AsSingleton<T>(this IResourceBuilder<T> builder)
        where T : ExecutableResource
    {
        builder.Resource.AllowsReplicas = false;
        return builder;
    }
}
