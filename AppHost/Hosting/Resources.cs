namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Something the AppHost starts or watches, like Aspire's <c>IResource</c>: a name, what it references
/// (its address is given to the referrer), what it waits for (started only when those are healthy), and
/// how its health is checked. One endpoint per replica, known once the model is built.
/// </summary>
public abstract class Resource(string name)
{
    public string Name { get; } = name;

    public List<Resource> References { get; } = [];

    public List<Resource> WaitsFor { get; } = [];

    public IHealthProbe? HealthProbe { get; internal set; }

    /// <summary>Variables computed once every port is chosen (Aspire's <c>WithEnvironment</c> callback form).</summary>
    public Dictionary<string, Func<string>> Environment { get; } = new(StringComparer.Ordinal);

    public abstract IReadOnlyList<Uri> Endpoints { get; }
}

/// <summary>A resource that hands its referrers a connection string (<c>ConnectionStrings__{name}</c>).</summary>
public interface IResourceWithConnectionString
{
    string ConnectionString { get; }
}

/// <summary>A process the AppHost starts, restarts and stops, like Aspire's <c>ExecutableResource</c>.</summary>
public class ExecutableResource(string name, string command, string scheme, string workingDirectory) : Resource(name)
{
    public const string LoopbackHost = "127.0.0.1";

    public string Command { get; } = command;

    /// <summary><c>http</c> for ASP.NET Core services (they get <c>ASPNETCORE_URLS</c>), <c>tcp</c> otherwise.</summary>
    public string Scheme { get; } = scheme;

    public string WorkingDirectory { get; } = workingDirectory;

    /// <summary>The command's arguments for the port a replica listens on.</summary>
    public Func<int, IReadOnlyList<string>> Arguments { get; internal set; } = _ => [];

    public int Replicas { get; internal set; } = 1;

    /// <summary>Set for the one public endpoint (the Gateway): a fixed address instead of a free loopback port.</summary>
    public (string Host, int Port)? ExternalEndpoint { get; internal set; }

    public bool AllowsReplicas { get; internal set; } = true;

    /// <summary>Run against a replica's endpoint before it is sent SIGTERM (e.g. to flush data).</summary>
    public Func<Uri, CancellationToken, Task>? BeforeStop { get; internal set; }

    /// <summary>One port per replica, chosen when the model is built and kept across restarts.</summary>
    public IReadOnlyList<int> Ports { get; internal set; } = [];

    public override IReadOnlyList<Uri> Endpoints =>
        [.. Ports.Select(port => ExternalEndpoint is var (host, _)
            ? new UriBuilder(Scheme, host, port).Uri
            : new UriBuilder(Scheme, LoopbackHost, port).Uri)];
}

/// <summary>Something already running elsewhere that the AppHost only health-checks and passes on.</summary>
public class ExternalResource(string name, IReadOnlyList<Uri> endpoints) : Resource(name)
{
    public override IReadOnlyList<Uri> Endpoints { get; } = endpoints;
}
