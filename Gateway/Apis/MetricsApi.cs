using System.Globalization;
using System.Net;
using DirectorsConsole.Gateway.Metrics;
using DirectorsConsole.Gateway.Routing;
using DirectorsConsole.ServiceDefaults.Telemetry;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DirectorsConsole.Gateway.Apis;

public static class MetricsApi
{
    /// <summary>How long one replica's scrape may take; a replica that does not answer in time is reported down.</summary>
    public static readonly TimeSpan ScrapeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The family that says which scrapes answered: 1 per replica that did, 0 per replica that did not.</summary>
    public const string ScrapeUpMetric = "dc_scrape_up";

    public static WebApplication MapMetricsApi(this WebApplication app)
    {
        app.MapGet(GatewayPaths.PublicMetrics, GetSuiteMetricsAsync)
            .WithTags("Public")
            .WithName("GetSuiteMetrics")
            .WithSummary("Prometheus text for the whole suite: the gateway and every replica of every service, each sample labelled with service and instance")
            .Produces<string>(StatusCodes.Status200OK, "text/plain");
        return app;
    }

    /// <summary>Scrapes the gateway itself and every replica of every service (their <c>/metrics</c>) at once and
    /// merges the answers; a replica that fails is a 0 in <see cref="ScrapeUpMetric"/>, never a failed scrape of the suite.</summary>
    public static async Task<ContentHttpResult> GetSuiteMetricsAsync(
        HttpContext context, SuiteTopology topology, IHttpClientFactory httpClientFactory, TimeProvider timeProvider, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        var connection = context.Connection;
        var self = new UriBuilder(Uri.UriSchemeHttp, (connection.LocalIpAddress ?? IPAddress.Loopback).ToString(), connection.LocalPort).Uri;
        var targets = new List<(string Service, Uri Address)> { ("gateway", self) };
        targets.AddRange(topology.Services.SelectMany(service => service.Addresses.Select(address => (service.Name, address))));

        var logger = loggers.CreateLogger(typeof(MetricsApi));
        var scrapes = await Task.WhenAll(targets.Select(async target =>
        {
            using var timeout = new CancellationTokenSource(ScrapeTimeout, timeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            try
            {
                using var client = httpClientFactory.CreateClient(SuiteTopology.HttpClientName);
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(target.Address, TelemetryExtensions.ScrapePath));
                request.Headers.Accept.ParseAdd("text/plain");
                using var response = await client.SendAsync(request, linked.Token);
                response.EnsureSuccessStatusCode();
                return (target.Service, target.Address, Text: await response.Content.ReadAsStringAsync(linked.Token));
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Could not scrape the metrics of {Service} at {Address}", target.Service, target.Address);
                return (target.Service, target.Address, Text: (string?)null);
            }
        }));

        var up = string.Join('\n', scrapes.Select(s =>
            $"{ScrapeUpMetric}{{service=\"{PrometheusTextMerger.Escape(s.Service)}\",instance=\"{PrometheusTextMerger.Escape(s.Address.Authority)}\"}} {(s.Text is null ? 0 : 1).ToString(CultureInfo.InvariantCulture)}"));
        var merged = PrometheusTextMerger.Merge(scrapes
            .Where(s => s.Text is not null)
            .Select(s => new ScrapedMetrics(s.Service, s.Address.Authority, s.Text!)));
        var text = $"# HELP {ScrapeUpMetric} Whether the gateway could scrape the replica's metrics (1) or not (0)\n# TYPE {ScrapeUpMetric} gauge\n{up}\n{merged}";
        return TypedResults.Content(text, PrometheusTextMerger.ContentType);
    }
}
