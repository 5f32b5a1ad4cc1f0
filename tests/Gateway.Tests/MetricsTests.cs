using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using DirectorsConsole.Gateway.Metrics;
using DirectorsConsole.Testing;

namespace DirectorsConsole.Gateway.Tests;

/// <summary>The suite's Prometheus text at /_public/metrics: the gateway's own and every replica's, merged.</summary>
public sealed partial class MetricsTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PublicMetricsMergeEveryReplicaIntoOneValidExposition()
    {
        // Arrange: one proxied request, so the gateway has HTTP metrics of its own
        using (await gateway.Client.GetAsync("/api/backends", Token))
        {
        }

        // Act: a request's duration is recorded only after its response was sent, so the first scrape may not have it
        var (status, mediaType, text) = await Eventually.ReturnsAsync(async () =>
            {
                using var response = await gateway.Client.GetAsync("/_public/metrics", Token);
                return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync(Token));
            },
            scrape => scrape.Item3.Split('\n').Any(line => line.StartsWith("http_server_request_duration", StringComparison.Ordinal)
                && line.Contains("service=\"gateway\"", StringComparison.Ordinal)));

        // Assert
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("text/plain", mediaType);
        var families = PrometheusText.Parse(text);
        var up = families["dc_scrape_up"];
        Assert.Equal("gauge", up.Type);
        Assert.Equal(6, up.Samples.Count);
        Assert.All(up.Samples, s => Assert.Equal(1, s.Value));
        var requests = families["fake_requests_total"];
        Assert.Equal("counter", requests.Type);
        Assert.Equal(5, requests.Samples.Count);
        Assert.Equal(2, requests.Samples.Count(s => s.Labels["service"] == "job-service"));
        Assert.All(requests.Samples, s => Assert.Equal("/a \"quoted\"", s.Labels["route"]));
        var durations = families["fake_duration_seconds"];
        Assert.Equal("histogram", durations.Type);
        Assert.Equal(20, durations.Samples.Count);
        Assert.Contains(families.Values, f => f.Samples.Any(s => s.Labels["service"] == "gateway" && s.Name.StartsWith("http_server_request_duration", StringComparison.Ordinal)));
        Assert.All(families.Values.SelectMany(f => f.Samples), s => Assert.True(s.Labels.ContainsKey("service") && s.Labels.ContainsKey("instance"), s.Name));
    }

    [Fact]
    public async Task AReplicaThatDoesNotAnswerIsAZeroNotAFailedScrape()
    {
        // Arrange
        var replica = gateway.Replica("path-service");
        await replica.StopAsync();
        try
        {
            // Act
            using var response = await gateway.Client.GetAsync("/_public/metrics", Token);

            // Assert
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var families = PrometheusText.Parse(await response.Content.ReadAsStringAsync(Token));
            var down = Assert.Single(families["dc_scrape_up"].Samples, s => s.Value == 0);
            Assert.Equal("path-service", down.Labels["service"]);
            Assert.DoesNotContain(families["fake_requests_total"].Samples, s => s.Labels["service"] == "path-service");
        }
        finally
        {
            await replica.StartAsync(Token);
        }
    }

    [Fact]
    public void MergingKeepsEachFamilyOnceAndLabelsEverySample()
    {
        // Arrange
        var a = new ScrapedMetrics("job-service", "10.0.0.1:80", "# TYPE x_total counter\nx_total 1\n# TYPE y gauge\ny{k=\"v\"} 2\n");
        var b = new ScrapedMetrics("gallery-service", "10.0.0.2:80", "# TYPE x_total counter\nx_total{} 5\n# EOF\n");

        // Act
        var families = PrometheusText.Parse(PrometheusTextMerger.Merge([a, b]));

        // Assert
        Assert.Equal(["job-service", "gallery-service"], families["x_total"].Samples.Select(s => s.Labels["service"]));
        Assert.Equal([1.0, 5.0], families["x_total"].Samples.Select(s => s.Value));
        Assert.Equal("v", Assert.Single(families["y"].Samples).Labels["k"]);
    }

    /// <summary>A strict reader of the Prometheus text format (0.0.4): every line is a HELP, a TYPE or a sample; a
    /// family's HELP and TYPE come once and before its samples; sample names belong to the family above them; label
    /// values are properly escaped; no series appears twice; values are numbers.</summary>
    private static partial class PrometheusText
    {
        public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

        public sealed record Family(string Name, string? Type, List<Sample> Samples);

        public static Dictionary<string, Family> Parse(string text)
        {
            var families = new Dictionary<string, Family>(StringComparer.Ordinal);
            var series = new HashSet<string>(StringComparer.Ordinal);
            Family? current = null;
            foreach (var line in text.Split('\n').Where(l => l.Length > 0))
            {
                if (Comment().Match(line) is { Success: true } comment)
                {
                    var name = comment.Groups["name"].Value;
                    if (comment.Groups["kind"].Value == "TYPE")
                    {
                        Assert.Contains(comment.Groups["rest"].Value, new[] { "counter", "gauge", "histogram", "summary", "untyped" });
                        Assert.False(families.TryGetValue(name, out var seen) && (seen.Type is not null || seen.Samples.Count > 0), $"TYPE of {name} twice or after its samples");
                        current = families[name] = new Family(name, comment.Groups["rest"].Value, []);
                    }
                    else
                    {
                        Assert.False(families.TryGetValue(name, out var seen) && seen.Samples.Count > 0, $"HELP of {name} after its samples");
                        current = families.TryGetValue(name, out var existing) ? existing : families[name] = new Family(name, null, []);
                    }

                    continue;
                }

                var match = SampleLine().Match(line);
                Assert.True(match.Success, $"Not a sample line: {line}");
                var sampleName = match.Groups["name"].Value;
                var labels = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (Match label in Label().Matches(match.Groups["labels"].Value))
                {
                    Assert.True(labels.TryAdd(label.Groups["key"].Value, Regex.Unescape(label.Groups["value"].Value)), $"Label twice: {line}");
                }

                var value = match.Groups["value"].Value switch
                {
                    "+Inf" => double.PositiveInfinity,
                    "-Inf" => double.NegativeInfinity,
                    "NaN" => double.NaN,
                    var number => double.Parse(number, NumberStyles.Float, CultureInfo.InvariantCulture),
                };
                var family = current is not null && (sampleName == current.Name || (sampleName.StartsWith(current.Name + "_", StringComparison.Ordinal) && current.Type is "histogram" or "summary"))
                    ? current
                    : families.TryGetValue(sampleName, out var bare) && bare.Samples.Count == 0 ? bare : null;
                Assert.True(family is not null, $"Sample {sampleName} outside its family");
                Assert.True(series.Add(sampleName + "{" + string.Join(',', labels.OrderBy(l => l.Key).Select(l => $"{l.Key}={l.Value}")) + "}"), $"Series twice: {line}");
                family!.Samples.Add(new Sample(sampleName, labels, value));
            }

            return families;
        }

        [GeneratedRegex(@"^# (?<kind>HELP|TYPE) (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) ?(?<rest>.*)$")]
        private static partial Regex Comment();

        [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>([a-zA-Z_][a-zA-Z0-9_]*=""([^""\\\n]|\\[\\""n])*"",?)*)\})? (?<value>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?Inf|NaN)( -?\d+)?$")]
        private static partial Regex SampleLine();

        [GeneratedRegex(@"(?<key>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>([^""\\\n]|\\[\\""n])*)""")]
        private static partial Regex Label();
    }
}
