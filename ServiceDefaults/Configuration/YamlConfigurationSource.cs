using Microsoft.Extensions.Configuration;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace DirectorsConsole.ServiceDefaults.Configuration;

/// <summary>
/// Reads the original orchestrator's <c>config.yaml</c> (API doc 2) into configuration keys:
/// <c>data_dir</c> stays <c>data_dir</c>, <c>backends[0].host</c> becomes <c>backends:0:host</c>, and
/// a top-level <c>redis</c> also becomes <c>ConnectionStrings:redis</c>. A missing file yields no keys
/// (defaults apply); a malformed one throws <see cref="InvalidDataException"/> naming the file, line and reason.
/// </summary>
public sealed class YamlConfigurationSource(string path) : IConfigurationSource
{
    public string Path { get; } = path;

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new YamlConfigurationProvider(Path);
}

public sealed class YamlConfigurationProvider(string path) : ConfigurationProvider
{
    public override void Load() => Data = ReadFile(path);

    public static Dictionary<string, string?> ReadFile(string path)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (!File.Exists(path))
        {
            return data;
        }

        var yaml = new YamlStream();
        using var reader = new StreamReader(path);
        var scanner = new Scanner(reader);
        try
        {
            yaml.Load(new Parser(scanner));
        }
        catch (YamlException ex)
        {
            throw new InvalidDataException(
                $"Configuration file '{path}' is malformed at line {ex.Start.Line}, column {ex.Start.Column}: {Reason(ex)}", ex);
        }
        catch (InvalidOperationException ex)
        {
            // YamlDotNet reports some unterminated constructs (an unclosed '[' at the end of the file) this way,
            // without a position; the scanner still knows where it stopped.
            throw new InvalidDataException(
                $"Configuration file '{path}' is malformed at line {scanner.CurrentPosition.Line}, column {scanner.CurrentPosition.Column}: " +
                "unexpected end of the file (an unclosed bracket, brace or quote?)", ex);
        }

        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return data;
        }

        if (yaml.Documents[0].RootNode is not YamlMappingNode root)
        {
            var start = yaml.Documents[0].RootNode.Start;
            throw new InvalidDataException(
                $"Configuration file '{path}' is malformed at line {start.Line}, column {start.Column}: the top level must be a mapping of keys such as data_dir, log_dir and backends.");
        }

        Flatten(root, prefix: null, data);
        if (data.TryGetValue("redis", out var redis) && !string.IsNullOrWhiteSpace(redis))
        {
            data["ConnectionStrings:redis"] = redis;
        }

        return data;
    }

    private static string Reason(YamlException ex) =>
        (ex.InnerException?.Message ?? ex.Message).Split(" (Line:", 2)[0].Trim();

    private static void Flatten(YamlNode node, string? prefix, Dictionary<string, string?> data)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    var name = ((YamlScalarNode)key).Value ?? "";
                    Flatten(value, prefix is null ? name : $"{prefix}:{name}", data);
                }

                break;
            case YamlSequenceNode sequence:
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    Flatten(sequence.Children[i], $"{prefix}:{i}", data);
                }

                break;
            case YamlScalarNode scalar when prefix is not null:
                data[prefix] = scalar.Style == ScalarStyle.Plain && scalar.Value is "~" or "null" ? null : scalar.Value;
                break;
        }
    }
}
