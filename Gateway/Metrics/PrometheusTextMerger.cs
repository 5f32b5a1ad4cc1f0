using System.Text;

namespace DirectorsConsole.Gateway.Metrics;

/// <summary>One scraped exposition and the labels that say where it came from.</summary>
public sealed record ScrapedMetrics(string Service, string Instance, string Text);

/// <summary>
/// Merges the Prometheus text expositions of several processes into one: each metric family once, with its
/// <c># HELP</c> and <c># TYPE</c> once, and every sample labelled with the <c>service</c> and <c>instance</c> it came
/// from, so the same instrument of two services (HTTP durations, runtime) stays two series rather than one clash.
/// Samples follow the family of the <c># TYPE</c> line before them, as the text format lays them out.
/// </summary>
public static class PrometheusTextMerger
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Merge(IEnumerable<ScrapedMetrics> sources)
    {
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        var order = new List<string>();
        Family Get(string name)
        {
            if (!families.TryGetValue(name, out var family))
            {
                family = new Family();
                families[name] = family;
                order.Add(name);
            }

            return family;
        }

        foreach (var source in sources)
        {
            var origin = $"service=\"{Escape(source.Service)}\",instance=\"{Escape(source.Instance)}\"";
            string? current = null;
            foreach (var raw in source.Text.Split('\n'))
            {
                var line = raw.TrimEnd('\r');
                if (line.Length == 0 || line == "# EOF")
                {
                    continue;
                }

                if (line.StartsWith("# HELP ", StringComparison.Ordinal) || line.StartsWith("# TYPE ", StringComparison.Ordinal))
                {
                    var rest = line[7..];
                    var space = rest.IndexOf(' ');
                    var name = space < 0 ? rest : rest[..space];
                    var family = Get(name);
                    if (line[2] == 'H')
                    {
                        family.Help ??= line;
                    }
                    else
                    {
                        family.Type ??= line;
                        current = name;
                    }

                    continue;
                }

                if (line.StartsWith('#'))
                {
                    continue;
                }

                var nameEnd = line.IndexOfAny(['{', ' ']);
                if (nameEnd <= 0)
                {
                    continue;
                }

                var sampleName = line[..nameEnd];
                var owner = current is not null && BelongsTo(sampleName, current) ? current : sampleName;
                Get(owner).Samples.Add(line[nameEnd] == '{'
                    ? line[..(nameEnd + 1)] + origin + (line[nameEnd + 1] == '}' ? "" : ",") + line[(nameEnd + 1)..]
                    : $"{sampleName}{{{origin}}}{line[nameEnd..]}");
            }
        }

        var text = new StringBuilder();
        foreach (var name in order)
        {
            var family = families[name];
            if (family.Samples.Count == 0)
            {
                continue;
            }

            if (family.Help is not null)
            {
                text.Append(family.Help).Append('\n');
            }

            if (family.Type is not null)
            {
                text.Append(family.Type).Append('\n');
            }

            foreach (var sample in family.Samples)
            {
                text.Append(sample).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>A label value as the text format writes it: backslash, quote and line feed escaped.</summary>
    public static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static bool BelongsTo(string sampleName, string family) =>
        sampleName == family
        || (sampleName.StartsWith(family, StringComparison.Ordinal) && sampleName[family.Length..] is "_bucket" or "_sum" or "_count" or "_total" or "_created");

    private sealed class Family
    {
        public string? Help { get; set; }

        public string? Type { get; set; }

        public List<string> Samples { get; } = [];
    }
}
