using System.Security.Cryptography;
using DirectorsConsole.Hosting;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.ServiceDefaults.Configuration;
using Microsoft.Extensions.Configuration;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Everything the AppHost reads, validated once at start: the command line, the environment and
/// config.yaml, in that order of precedence. Directories are absolute (relative ones are resolved
/// against config.yaml's folder, or the current directory when there is no file).
/// </summary>
public sealed record AppHostSettings(
    string ConfigFile,
    string DataDirectory,
    string LogDirectory,
    string? RedisConnectionString,
    IReadOnlyList<Uri> ComfyNodes,
    string Host,
    int Port,
    IReadOnlyDictionary<string, int> Replicas,
    string WorkingDirectory,
    bool Dashboard,
    string GatewaySecret,
    int Agents = 0,
    string? WorkerToken = null,
    string? RedisServerPath = null)
{
    public const string DefaultConfigFile = "./config.yaml";
    public const string DefaultDataDir = "./data";
    public const string DefaultLogDir = "./logs";
    public const string DefaultHost = "127.0.0.1";
    public const int DefaultPort = 9820;

    /// <summary>How many replicas of <paramref name="service"/> to run (config.yaml's or <c>--replicas</c>).</summary>
    public int ReplicasOf(string service, int defaultCount = 1) => Replicas.GetValueOrDefault(service, defaultCount);

    public Uri GatewayUrl => new($"http://{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port}");

    public static AppHostSettings Load(IReadOnlyList<string> args) =>
        Load(AppHostCommandLine.Parse(args), Environment.GetEnvironmentVariable, Directory.GetCurrentDirectory());

    public static AppHostSettings Load(AppHostCommandLine commandLine, Func<string, string?> environment, string currentDirectory)
    {
        string? Env(string name) => environment(name) is { Length: > 0 } value ? value : null;

        var configFile = Path.GetFullPath(Env("ORCHESTRATOR_CONFIG") ?? DefaultConfigFile, currentDirectory);
        var file = SuiteConfigFile.Read(configFile);
        var baseDirectory = File.Exists(configFile) ? Path.GetDirectoryName(configFile)! : currentDirectory;

        var host = Env("ORCHESTRATOR_HOST") ?? DefaultHost;
        if (Uri.CheckHostName(host.Trim('[', ']')) == UriHostNameType.Unknown)
        {
            throw new AppHostConfigurationException($"ORCHESTRATOR_HOST must be a host name or IP address, not '{host}'.");
        }

        var port = commandLine.Port
            ?? (Env("ORCHESTRATOR_PORT") is { } portText ? AppHostCommandLine.ParsePort(portText, "ORCHESTRATOR_PORT") : DefaultPort);
        var comfyNodes = Env("ORCHESTRATOR_COMFY_NODES") is { } nodes
            ? ComfyNodeAddress.ParseList(nodes, "ORCHESTRATOR_COMFY_NODES")
            : file.ComfyNodes;

        var access = ReadAccess(configFile, Env);
        // One secret per run unless the studio set its own: a service port then answers only this run's Gateway.
        access.GatewaySecret = access.GatewaySecret?.Trim() is { Length: > 0 } configured ? configured : Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var problems = AccessOptionsValidator.Problems(access).Concat(AccessOptionsValidator.TokenVariableProblems(access, Env)).ToList();
        if (!IsLoopbackHost(host.Trim('[', ']')) && access.NetworkExposureRefusal($"{host}:{port}") is { } refusal)
        {
            problems.Add(refusal);
        }

        if (problems.Count > 0)
        {
            throw new AppHostConfigurationException($"the access settings ({configFile}) are not usable:\n  {string.Join("\n  ", problems)}");
        }

        var agents = commandLine.Agents ?? file.Agents ?? 0;
        if (agents > 0 && comfyNodes.Count > 0)
        {
            throw new AppHostConfigurationException(
                $"--agents {agents} runs the emulated nodes behind render agents; it cannot be combined with configured nodes (ORCHESTRATOR_COMFY_NODES or config.yaml's backends).");
        }

        var redisConnectionString = Env("ConnectionStrings__redis") ?? (string.IsNullOrWhiteSpace(file.Redis) ? null : file.Redis);
        var redisServerPath = LocateRedisServer(Env("ORCHESTRATOR_REDIS_SERVER") ?? file.RedisServer, redisConnectionString, baseDirectory, Env("PATH"));

        return new AppHostSettings(
            configFile,
            Path.GetFullPath(Env("ORCHESTRATOR_DATA_DIR") ?? file.DataDir ?? DefaultDataDir, baseDirectory),
            Path.GetFullPath(Env("ORCHESTRATOR_LOG_DIR") ?? file.LogDir ?? DefaultLogDir, baseDirectory),
            redisConnectionString,
            comfyNodes,
            host.Trim('[', ']'),
            port,
            // The command line wins over config.yaml, service by service.
            file.Replicas.Concat(commandLine.Replicas).GroupBy(r => r.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal),
            currentDirectory,
            !commandLine.NoDashboard,
            access.GatewaySecret,
            agents,
            // One shared worker token per run, given to this run's agents and to the Gateway, which accepts it on /_worker.
            agents > 0 ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) : null,
            redisServerPath);
    }

    /// <summary>The <c>redis-server</c> executable that <c>redis_server</c> (or <c>ORCHESTRATOR_REDIS_SERVER</c>) names,
    /// or null for the embedded Garnet (unset or <c>garnet</c>).</summary>
    private static string? LocateRedisServer(string? setting, string? redisConnectionString, string baseDirectory, string? searchPath)
    {
        if (string.IsNullOrWhiteSpace(setting) || setting.Trim().Equals(RedisServerCommandLine.Garnet, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (redisConnectionString is not null)
        {
            throw new AppHostConfigurationException(
                $"redis_server (ORCHESTRATOR_REDIS_SERVER) is '{setting}', but redis (ConnectionStrings__redis) already names a server to use: set one of them.");
        }

        return RedisServerCommandLine.Locate(setting.Trim(), baseDirectory, searchPath)
            ?? throw new AppHostConfigurationException(
                $"redis_server (ORCHESTRATOR_REDIS_SERVER) is '{setting}', which is neither 'garnet' nor an executable found " +
                (RedisServerCommandLine.IsPath(setting) ? "at that path" : "on PATH") +
                " (Debian: apt-get install redis-server).");
    }

    /// <summary>config.yaml's access settings (clients, anonymous_role, allow_anonymous_network, gateway_secret) with
    /// the <c>ORCHESTRATOR_*</c> variables that override them, read as the services read them.</summary>
    private static AccessOptions ReadAccess(string configFile, Func<string, string?> environment)
    {
        var overrides = new[] { "anonymous_role", "allow_anonymous_network", "gateway_secret" }
            .Select(key => (key, value: environment($"ORCHESTRATOR_{key.ToUpperInvariant()}")))
            .Where(setting => setting.value is not null)
            .ToDictionary(setting => setting.key, setting => setting.value);
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(YamlConfigurationProvider.ReadFile(configFile))
            .AddInMemoryCollection(overrides)
            .Build();
        var access = new AccessOptions();
        try
        {
            configuration.Bind(access);
        }
        catch (InvalidOperationException ex)
        {
            throw new AppHostConfigurationException($"the access settings ({configFile}) are not usable: {ex.Message}", ex);
        }

        return access;
    }

    private static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (System.Net.IPAddress.TryParse(host, out var address) && System.Net.IPAddress.IsLoopback(address));
}
