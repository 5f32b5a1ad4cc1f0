using System.Globalization;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>What <c>dotnet run --project AppHost -- ...</c> was asked for.</summary>
public sealed record AppHostCommandLine(IReadOnlyDictionary<string, int> Replicas, int? Port, bool Help, bool NoDashboard = false, int? Agents = null)
{
    public const int MaxReplicas = 16;

    /// <summary>The most render agents <c>--agents</c> may start (each with an emulated node of its own).</summary>
    public const int MaxAgents = 16;

    public const string Usage = """
        Starts the DirectorsConsole suite on Aspire: the embedded Redis (Garnet), every service, the Gateway and the
        Aspire dashboard (its address is printed once it is up).

        Usage: dotnet run --project AppHost [-- options]

        Options:
          --replicas NAME=N   run N replicas (1-16) of a service, e.g. --replicas job-service=2 (repeatable;
                              the gateway cannot have replicas; overrides config.yaml's replicas);
                              comfy-emulator=N sets the emulated nodes
          --agents N          run the N emulated nodes (0-16) behind N render agents that pull their work
                              over /_worker, instead of connecting BackendService to them (overrides
                              config.yaml's agents; 0, the default, connects to the nodes)
          --port N            the Gateway's port (overrides ORCHESTRATOR_PORT; default 9820)
          --no-dashboard      run without the Aspire dashboard (and without collecting telemetry)
          --help              show this help

        Settings (environment, then config.yaml, then default):
          ORCHESTRATOR_CONFIG        config.yaml path (default ./config.yaml)
          ORCHESTRATOR_DATA_DIR      data_dir (default ./data, relative to config.yaml's folder)
          ORCHESTRATOR_LOG_DIR       log_dir (default ./logs, relative to config.yaml's folder)
          ConnectionStrings__redis   redis: an existing Redis/Valkey/Garnet instead of the embedded Garnet
          ORCHESTRATOR_REDIS_SERVER  redis_server: a redis-server for the AppHost to run instead of Garnet (default garnet)
          ORCHESTRATOR_HOST          the Gateway's address (default 127.0.0.1)
          ORCHESTRATOR_PORT          the Gateway's port (default 9820)
          ORCHESTRATOR_COMFY_NODES   ComfyUI nodes, comma-separated host:port or URLs (default: config.yaml
                                     backends; with neither, 2 emulated nodes are started)

        """;

    public static bool WantsHelp(IEnumerable<string> args) => args.Any(a => a is "--help" or "-h" or "-?");

    public static AppHostCommandLine Parse(IReadOnlyList<string> args)
    {
        var replicas = new Dictionary<string, int>(StringComparer.Ordinal);
        int? port = null;
        var help = false;
        var noDashboard = false;
        int? agents = null;
        for (var i = 0; i < args.Count; i++)
        {
            var (option, inlineValue) = args[i].Split('=', 2) is [var name, var value] && name.StartsWith("--", StringComparison.Ordinal)
                ? (name, value)
                : (args[i], (string?)null);
            switch (option)
            {
                case "--help" or "-h" or "-?":
                    help = true;
                    break;
                case "--replicas":
                    var (service, count) = ParseReplicas(inlineValue ?? ValueAfter(args, ref i, option));
                    if (!replicas.TryAdd(service, count))
                    {
                        throw new AppHostConfigurationException($"--replicas names '{service}' twice.");
                    }

                    break;
                case "--no-dashboard":
                    noDashboard = true;
                    break;
                case "--agents":
                    agents = ParseAgents(inlineValue ?? ValueAfter(args, ref i, option), "--agents");
                    break;
                case "--port":
                    port = ParsePort(inlineValue ?? ValueAfter(args, ref i, option), "--port");
                    break;
                default:
                    throw new AppHostConfigurationException($"Unknown argument '{args[i]}'. Run with --help for the options.");
            }
        }

        return new AppHostCommandLine(replicas, port, help, noDashboard, agents);
    }

    public static int ParsePort(string value, string source) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535
            ? port
            : throw new AppHostConfigurationException($"{source} must be a TCP port from 1 to 65535, not '{value}'.");

    public static int ParseAgents(string value, string source) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var agents) && agents is >= 0 and <= MaxAgents
            ? agents
            : throw new AppHostConfigurationException($"{source} must be a whole number of render agents from 0 to {MaxAgents}, not '{value}'.");

    private static string ValueAfter(IReadOnlyList<string> args, ref int i, string option) =>
        ++i < args.Count && !args[i].StartsWith("--", StringComparison.Ordinal)
            ? args[i]
            : throw new AppHostConfigurationException($"{option} needs a value. Run with --help for the options.");

    private static (string Service, int Count) ParseReplicas(string value)
    {
        if (value.Split('=', 2) is not [var service, var count] || service.Length == 0)
        {
            throw new AppHostConfigurationException($"--replicas expects NAME=N (e.g. job-service=2), not '{value}'.");
        }

        return int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= MaxReplicas
            ? (service, n)
            : throw new AppHostConfigurationException(
                $"--replicas {service}= needs a whole number of replicas from 1 to {MaxReplicas}, not '{count}'.");
    }
}
