using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// The keys of config.yaml (API doc 2) that the AppHost needs. A missing file is all defaults; a malformed
/// one is an <see cref="AppHostConfigurationException"/> naming the file, the line and the reason.
/// </summary>
public sealed record SuiteConfigFile(
    string? DataDir, string? LogDir, string? Redis, IReadOnlyList<Uri> ComfyNodes, IReadOnlyDictionary<string, int> Replicas, int? Agents = null,
    string? RedisServer = null)
{
    public const int DefaultComfyPort = 8188;

    public static readonly SuiteConfigFile Empty = new(null, null, null, [], new Dictionary<string, int>());

    public static SuiteConfigFile Read(string path)
    {
        if (!File.Exists(path))
        {
            return Empty;
        }

        var yaml = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            yaml.Load(reader);
        }
        catch (YamlException ex)
        {
            throw Malformed(path, ex.Start, (ex.InnerException?.Message ?? ex.Message).Split(" (Line:", 2)[0].Trim());
        }

        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return Empty;
        }

        if (yaml.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw Malformed(path, yaml.Documents[0].RootNode.Start, "the top level must be a mapping of keys such as data_dir, log_dir and backends");
        }

        return new SuiteConfigFile(
            Scalar(path, root, "data_dir"),
            Scalar(path, root, "log_dir"),
            Scalar(path, root, "redis"),
            Backends(path, root),
            ReadReplicas(path, root),
            ReadAgents(path, root),
            Scalar(path, root, "redis_server"));
    }

    /// <summary><c>replicas: {job-service: 2, …}</c>: how many replicas of each service to run (1-16).</summary>
    private static Dictionary<string, int> ReadReplicas(string path, YamlMappingNode root)
    {
        var replicas = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!root.Children.TryGetValue(new YamlScalarNode("replicas"), out var value) || IsNull(value))
        {
            return replicas;
        }

        if (value is not YamlMappingNode services)
        {
            throw Malformed(path, value.Start, "'replicas' must be a mapping of service names to counts, e.g. {job-service: 2}");
        }

        foreach (var (name, count) in services.Children)
        {
            var service = ((YamlScalarNode)name).Value ?? "";
            var text = (count as YamlScalarNode)?.Value;
            if (!(int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= AppHostCommandLine.MaxReplicas))
            {
                throw Malformed(path, count.Start,
                    $"replicas of '{service}' must be a whole number from 1 to {AppHostCommandLine.MaxReplicas}, not '{text}'");
            }

            replicas[service] = n;
        }

        return replicas;
    }

    /// <summary><c>agents: N</c>: the emulated nodes run behind N render agents (0-16).</summary>
    private static int? ReadAgents(string path, YamlMappingNode root)
    {
        if (Scalar(path, root, "agents") is not { } text)
        {
            return null;
        }

        try
        {
            return AppHostCommandLine.ParseAgents(text, "'agents'");
        }
        catch (AppHostConfigurationException ex)
        {
            throw Malformed(path, root.Children[new YamlScalarNode("agents")].Start, ex.Message.TrimEnd('.'));
        }
    }

    private static string? Scalar(string path, YamlMappingNode node, string key)
    {
        if (!node.Children.TryGetValue(new YamlScalarNode(key), out var value) || IsNull(value))
        {
            return null;
        }

        return value is YamlScalarNode { Value: { } text }
            ? text
            : throw Malformed(path, value.Start, $"'{key}' must be a single value");
    }

    /// <summary>The enabled entries of <c>backends</c> as ComfyUI base addresses (host, port=8188, enabled=true).</summary>
    private static List<Uri> Backends(string path, YamlMappingNode root)
    {
        if (!root.Children.TryGetValue(new YamlScalarNode("backends"), out var value) || IsNull(value))
        {
            return [];
        }

        if (value is not YamlSequenceNode list)
        {
            throw Malformed(path, value.Start, "'backends' must be a list of {id, host, port, enabled}");
        }

        var nodes = new List<Uri>();
        foreach (var entry in list)
        {
            if (entry is not YamlMappingNode backend)
            {
                throw Malformed(path, entry.Start, "each entry of 'backends' must be a mapping with at least 'host'");
            }

            var enabled = Scalar(path, backend, "enabled") ?? "true";
            if (!bool.TryParse(enabled, out var isEnabled))
            {
                throw Malformed(path, backend.Start, $"'enabled' must be true or false, not '{enabled}'");
            }

            var host = Scalar(path, backend, "host") ?? throw Malformed(path, backend.Start, "a backend needs a 'host'");
            var portText = Scalar(path, backend, "port");
            var port = DefaultComfyPort;
            if (portText is not null && !(int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and <= 65535))
            {
                throw Malformed(path, backend.Start, $"'port' must be a TCP port from 1 to 65535, not '{portText}'");
            }

            if (isEnabled)
            {
                nodes.Add(ComfyNodeAddress.Parse($"{host}:{port}", $"{path}: backends"));
            }
        }

        return nodes;
    }

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" };

    private static AppHostConfigurationException Malformed(string path, Mark at, string reason) =>
        new($"Configuration file '{path}' is malformed at line {at.Line}, column {at.Column}: {reason}.");
}

/// <summary>A ComfyUI node address: <c>host:port</c> (port 8188 when left out) or an http(s) URL.</summary>
public static class ComfyNodeAddress
{
    public static Uri Parse(string text, string source)
    {
        var candidate = text.Contains("://", StringComparison.Ordinal) ? text
            : text.Contains(':', StringComparison.Ordinal) ? $"http://{text}"
            : $"http://{text}:{SuiteConfigFile.DefaultComfyPort}";
        return Uri.TryCreate(candidate, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0
            ? new Uri(uri.GetLeftPart(UriPartial.Authority))
            : throw new AppHostConfigurationException($"{source}: '{text}' is not a ComfyUI address (host:port or http://host:port).");
    }

    public static IReadOnlyList<Uri> ParseList(string text, string source) =>
        [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(n => Parse(n, source))];
}
