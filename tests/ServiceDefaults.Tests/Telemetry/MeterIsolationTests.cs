using System.Diagnostics.Metrics;
using DirectorsConsole.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DirectorsConsole.ServiceDefaults.Tests.Telemetry;

/// <summary>
/// Two hosts with the real service defaults in one process, as several services share a test process: each one's
/// <c>/metrics</c> shows its own instruments once, and keeps showing them after the other host is gone.
/// </summary>
public sealed class MeterIsolationTests
{
    private const string MeterName = "DirectorsConsole.IsolationProbe";

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EachHostExportsOnlyItsOwnMetersAndKeepsThemWhenAnotherHostStops()
    {
        // Arrange: both hosts make the same meter and gauge from their own IMeterFactory and serve one request
        await using var first = await ProbeHost.StartAsync(value: 11);
        var second = await ProbeHost.StartAsync(value: 22);
        await first.GetAsync("/ping");
        await second.GetAsync("/ping");

        // Act
        var whileBoth = await first.GetAsync("/metrics");
        await second.DisposeAsync();
        var afterSecondStopped = await first.GetAsync("/metrics");

        // Assert
        foreach (var scrape in new[] { whileBoth, afterSecondStopped })
        {
            var gauge = Assert.Single(scrape.Split('\n'), line => line.StartsWith("dc_isolation_probe{", StringComparison.Ordinal));
            Assert.EndsWith(" 11", gauge);
            var samples = scrape.Split('\n').Where(line => line.Length > 0 && !line.StartsWith('#')).Select(line => line[..line.LastIndexOf(' ')]).ToList();
            Assert.Equal(samples.Count, samples.Distinct(StringComparer.Ordinal).Count());
        }

        Assert.Contains("http_server_active_requests", whileBoth, StringComparison.Ordinal);
    }

    private sealed class ProbeHost : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly string _folder;
        private readonly HttpClient _client;

        private ProbeHost(WebApplication app, string folder, int port)
        {
            _app = app;
            _folder = folder;
            _client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        }

        public static async Task<ProbeHost> StartAsync(int value)
        {
            var folder = Directory.CreateTempSubdirectory("dc-meters-").FullName;
            var port = TestPorts.GetFreeTcpPort();
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
            builder.WebHost.UseKestrel().UseUrls($"http://127.0.0.1:{port}");
            builder.Configuration["ORCHESTRATOR_CONFIG"] = Path.Combine(folder, "config.yaml");
            builder.Configuration["log_dir"] = Path.Combine(folder, "logs");
            builder.Configuration["ConnectionStrings:redis"] = "127.0.0.1:1,connectTimeout=200,syncTimeout=500";
            builder.AddServiceDefaults("meter-isolation-test");
            var app = builder.Build();
            var meter = app.Services.GetRequiredService<IMeterFactory>().Create(MeterName);
            meter.CreateObservableGauge("dc.isolation.probe", () => value);
            app.MapDefaultEndpoints();
            app.MapGet("/ping", () => TypedResults.Ok());
            await app.StartAsync(Token);
            return new ProbeHost(app, folder, port);
        }

        public async Task<string> GetAsync(string path)
        {
            using var response = await _client.GetAsync(path, Token);
            response.EnsureSuccessStatusCode();
            return await response.Content.ReadAsStringAsync(Token);
        }

        public async ValueTask DisposeAsync()
        {
            _client.Dispose();
            await _app.DisposeAsync();
            Directory.Delete(_folder, recursive: true);
        }
    }
}
