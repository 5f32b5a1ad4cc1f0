using System.Reflection;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Declares the resources of the suite, like Aspire's <c>IDistributedApplicationBuilder</c>:
/// <c>AddProject</c>/<c>AddExecutable</c>, then <see cref="Build"/>, which checks the model, applies
/// <c>--replicas</c>, computes the start order and chooses every port.
/// </summary>
public sealed class DistributedApplicationBuilder
{
    private readonly List<Resource> _resources = [];
    private readonly ILoggerFactory _loggerFactory;
    private readonly StatusBoard _board;
    private readonly TimeProvider _time;

    public DistributedApplicationBuilder(AppHostSettings settings, TextWriter console, bool interactive, TimeProvider time)
    {
        Settings = settings;
        _time = time;
        _board = new StatusBoard(console, interactive, time);
        _loggerFactory = LoggerFactory.Create(logging => logging.AddProvider(new StatusBoardLoggerProvider(_board, time)));
        Logger = _loggerFactory.CreateLogger("AppHost");
    }

    public AppHostSettings Settings { get; }

    public ILogger Logger { get; }

    public IReadOnlyList<Resource> Resources => _resources;

    public IResourceBuilder<T> AddResource<T>(T resource)
        where T : Resource
    {
        if (_resources.Any(r => r.Name == resource.Name))
        {
            throw new AppHostConfigurationException($"A resource named '{resource.Name}' was already added.");
        }

        _resources.Add(resource);
        return new ResourceBuilder<T>(resource, this);
    }

    /// <summary>A process started with <paramref name="command"/> (looked up on PATH) in the current directory.</summary>
    public IResourceBuilder<ExecutableResource> AddExecutable(string name, string command, string scheme, IReadOnlyList<string> arguments) =>
        AddResource(new ExecutableResource(name, command, scheme, Settings.WorkingDirectory)).WithArgs(_ => arguments);

    /// <summary>One of the suite's services, run as <c>dotnet {assembly}</c>; the AppHost's build recorded
    /// where each service's assembly is (<c>ServiceAssembly:{name}</c>).</summary>
    public IResourceBuilder<ExecutableResource> AddProject(string name)
    {
        var assembly = typeof(DistributedApplicationBuilder).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == $"ServiceAssembly:{name}")?.Value
            ?? throw new AppHostConfigurationException($"The AppHost build recorded no assembly for the service '{name}'.");
        if (!File.Exists(assembly))
        {
            throw new AppHostConfigurationException(
                $"The service '{name}' is not built: '{assembly}' is missing. Build with 'dotnet build AppHost' first.");
        }

        return AddExecutable(name, DotNetHost.Path, Uri.UriSchemeHttp, [assembly]);
    }

    public DistributedApplication Build()
    {
        foreach (var (name, count) in Settings.Replicas)
        {
            var resource = _resources.FirstOrDefault(r => r.Name == name)
                ?? throw new AppHostConfigurationException(
                    $"--replicas {name}={count}: there is no resource '{name}'. Resources: {string.Join(", ", _resources.Select(r => r.Name))}.");
            if (resource is not ExecutableResource { AllowsReplicas: true } executable)
            {
                throw new AppHostConfigurationException(resource is ExecutableResource { ExternalEndpoint: var (host, port) }
                    ? $"--replicas {name}={count}: '{name}' cannot have replicas; it is the suite's single public endpoint on {host}:{port}."
                    : $"--replicas {name}={count}: '{name}' cannot have replicas.");
            }

            executable.Replicas = count;
        }

        var levels = StartOrder.Compute(_resources);
        var ports = new PortAllocator();
        foreach (var executable in _resources.OfType<ExecutableResource>())
        {
            if (executable.ExternalEndpoint is var (host, port))
            {
                executable.Ports = PortAllocator.IsFree(host, port)
                    ? [port]
                    : throw new AppHostConfigurationException(
                        $"'{executable.Name}' cannot listen on {host}:{port}: the port is in use (is the suite already running?). " +
                        "Stop the other process or choose another port with --port or ORCHESTRATOR_PORT.");
            }
            else
            {
                executable.Ports = [.. Enumerable.Range(0, executable.Replicas).Select(_ => ports.Allocate())];
            }
        }

        return new DistributedApplication(_resources, levels, Settings, _board, _loggerFactory, Logger, _time);
    }
}
