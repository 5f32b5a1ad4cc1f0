using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using Microsoft.Playwright;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// The suite with its Aspire dashboard, as <c>dotnet run --project AppHost</c> starts it: one job group submitted
/// through the Gateway shows in the dashboard as one trace that runs from the Gateway through JobService and, across
/// the Redis queue, BackendService to the render nodes' <c>POST /prompt</c>. The trace is read from the dashboard's
/// telemetry API; the resources page and the trace's page are opened in headless Chromium, and a screenshot of the
/// trace is kept with the test's output. The AppHost runs as a process of its own (<see cref="SuiteProcess"/>):
/// Aspire.Hosting.Testing always runs an application without its dashboard. A collection of its own that runs alone, after the others: it starts a
/// second whole suite, which beside the shared one would double the load of a 2-core machine.
/// </summary>
[Collection(nameof(DashboardCollection))]
public sealed class DashboardTraceTests
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string[] Services = ["gateway", "job-service", "backend-service", "gallery-service", "path-service"];
    private static readonly string[] TracedServices = ["gateway", "job-service", "backend-service"];

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AJobGroupSubmittedThroughTheGatewayIsOneTraceAcrossTheServicesInTheDashboard()
    {
        // Arrange: the whole suite with the dashboard, and the two emulated render nodes online
        var workingDirectory = Directory.CreateTempSubdirectory("dc-dashboard-").FullName;
        try
        {
            await using var suite = new SuiteProcess(workingDirectory) { WithDashboard = true };
            await suite.StartAsync(Token);
            using var dashboard = new HttpClient { BaseAddress = suite.DashboardUrl, Timeout = TimeSpan.FromSeconds(60) };
            var backendIds = await OnlineBackendIdsAsync(suite, 2);

            // Act: a group of two children, one per node, through the Gateway, sent as a traced client would send it
            // (so the test knows the trace's id without searching every trace the dashboard holds)
            var client = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
            using var submit = new HttpRequestMessage(HttpMethod.Post, "/api/job-groups");
            submit.Headers.Add("traceparent", $"00-{client.TraceId.ToHexString()}-{client.SpanId.ToHexString()}-01");
            submit.Content = JsonContent.Create(new
            {
                workflow_json = new JsonObject
                {
                    ["1"] = new JsonObject
                    {
                        ["class_type"] = "TestProgressImage",
                        ["inputs"] = new JsonObject { ["steps"] = 3, ["delay_ms"] = 20, ["seed"] = 1, ["width"] = 16, ["height"] = 16 },
                    },
                    ["2"] = new JsonObject
                    {
                        ["class_type"] = "SaveImage",
                        ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = "dashboard/trace" },
                    },
                },
                backend_ids = backendIds,
                seed_strategy = "sequential",
                base_seed = 5,
            });
            using var created = await suite.Gateway.SendAsync(submit, Token);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var groupId = (string)(await created.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_group_id"]!;
            var group = await Eventually.ReturnsAsync(
                () => suite.Gateway.GetFromJsonAsync<JsonObject>($"/api/job-groups/{groupId}", Token),
                g => (string?)g?["status"] is "completed" or "partial_complete" or "failed", TimeSpan.FromSeconds(60));
            var ended = Stopwatch.StartNew();

            // The group's trace, once every service has exported its part and every span's parent is there: a hop that
            // started a trace of its own would leave the trace without its spans, and the wait would end in a failure
            var traceId = client.TraceId.ToHexString();
            var clientSpanId = client.SpanId.ToHexString();
            var trace = await Eventually.ReturnsAsync(
                () => ReadTraceAsync(dashboard, traceId),
                t => t is not null && TracedServices.All(service => t.Spans.Any(s => s.Service == service))
                    && t.Spans.Count(IsPromptPost) == 2
                    && t.Spans.All(s => s.ParentSpanId == clientSpanId || t.Spans.Any(p => p.SpanId == s.ParentSpanId)),
                TimeSpan.FromSeconds(60));
            var appearedAfter = ended.Elapsed;
            var resources = await dashboard.GetFromJsonAsync<JsonArray>("/api/telemetry/resources", Token);

            // Assert: the group ran, and its submission is one trace, Gateway → JobService → Redis → BackendService → nodes
            Assert.Equal("completed", (string?)group!["status"]);
            var spans = trace!.Spans;
            var root = Assert.Single(spans, s => s.ParentSpanId == clientSpanId);
            Assert.Equal("gateway", root.Service);
            Assert.Equal("/api/job-groups", root.Attribute("url.path"));
            Assert.All(spans, s => Assert.True(s == root || spans.Any(p => p.SpanId == s.ParentSpanId),
                $"{s.Service} span '{s.Name}' has a parent outside the trace"));
            Assert.Equal(2, spans.Count(s => s.Service == "job-service" && s.Name == "dispatch job"));
            Assert.Contains(spans, s => s.Service == "backend-service" && s.Name.StartsWith("process ", StringComparison.Ordinal));
            Assert.Equal(2, spans.Count(IsPromptPost));
            Assert.All(TracedServices, service => Assert.Contains(resources!, r => ((string?)r?["name"])?.StartsWith(service, StringComparison.Ordinal) == true));

            var output = TestContext.Current.TestOutputHelper;
            output?.WriteLine($"trace {trace.TraceId}: {spans.Count} spans over {trace.Duration.TotalMilliseconds:0} ms, "
                + $"in the dashboard {appearedAfter.TotalSeconds:0.0} s after the group ended");
            foreach (var service in spans.GroupBy(s => s.Service).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                output?.WriteLine($"  {service.Key}: {service.Count()} spans ({string.Join(", ", service.Select(s => s.Name).Distinct().Order(StringComparer.Ordinal))})");
            }

            // Assert: what an operator sees in the browser
            if (File.Exists(Chromium))
            {
                var screenshot = await ShowInBrowserAsync(suite.DashboardUrl!, trace.TraceId);
                output?.WriteLine($"screenshot of the trace: {screenshot}");
            }
            else
            {
                output?.WriteLine($"{Chromium} is not installed; the dashboard's pages were not opened");
            }
        }
        finally
        {
            Directory.Delete(workingDirectory, recursive: true);
        }
    }

    private static bool IsPromptPost(TraceSpan span) =>
        span.Service == "backend-service" && span.Kind == SpanKindClient
        && span.Attribute("url.full") is { } url && new Uri(url).AbsolutePath == "/prompt";

    /// <summary>The resources page lists every service; the trace's page shows it, and is saved as a screenshot.</summary>
    private static async Task<string> ShowInBrowserAsync(Uri dashboardUrl, string traceId)
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // Root in a container has no user namespace for Chromium's sandbox.
            Args = ["--no-sandbox"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1600, Height = 1000 } });

        await OpenUntilShownAsync(page, dashboardUrl, Services);
        await OpenUntilShownAsync(page, new Uri(dashboardUrl, $"/traces/detail/{traceId}"), TracedServices);

        var path = Path.Combine(AppContext.BaseDirectory, "dashboard", $"trace-{traceId}.png");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }

    /// <summary>
    /// Opens the page until it shows every one of the texts. The dashboard is a Blazor Server app: on a loaded 2-core
    /// machine its first render, or the circuit it opens after the page loads, can stall, and a reload is what an
    /// operator would do; so the page gets three tries of 30 s each. On the last failure the page's screenshot and
    /// its text go into the failure message.
    /// </summary>
    private static async Task OpenUntilShownAsync(IPage page, Uri url, IEnumerable<string> texts)
    {
        const int Tries = 3;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await page.GotoAsync(url.ToString(), new PageGotoOptions { Timeout = 30_000 });
                foreach (var text in texts)
                {
                    await page.GetByText(text, new PageGetByTextOptions { Exact = false }).First
                        .WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
                }

                return;
            }
            catch (TimeoutException failure) when (attempt < Tries)
            {
                TestContext.Current.TestOutputHelper?.WriteLine($"{url} try {attempt}: {failure.Message.Split('\n')[0]}; reloading");
            }
            catch (TimeoutException failure)
            {
                var path = Path.Combine(AppContext.BaseDirectory, "dashboard", $"failed-{DateTime.UtcNow:HHmmss}.png");
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
                var shown = await page.InnerTextAsync("body");
                throw new TimeoutException(
                    $"{url} did not show all of [{string.Join(", ", texts)}] in {Tries} tries; screenshot {path}; the page showed: "
                    + shown[..Math.Min(shown.Length, 2_000)], failure);
            }
        }
    }

    /// <summary>The trace with every span the dashboard holds for it; null until the first of them has arrived.</summary>
    private static async Task<TraceSpans?> ReadTraceAsync(HttpClient dashboard, string traceId)
    {
        using var response = await dashboard.GetAsync($"/api/telemetry/traces/{traceId}", Token);
        return response.StatusCode == HttpStatusCode.NotFound
            ? null
            : new TraceSpans(traceId, TraceSpan.Read((await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonObject>(Token))!));
    }

    private static async Task<string[]> OnlineBackendIdsAsync(SuiteProcess suite, int count)
    {
        var list = await Eventually.ReturnsAsync(
            () => suite.Gateway.GetFromJsonAsync<JsonObject>("/api/backends", Token),
            l => (int?)l?["online"] >= count, TimeSpan.FromSeconds(60));
        return list!["backends"]!.AsArray().Where(b => (bool?)b!["online"] == true).Select(b => (string)b!["id"]!).Take(count).ToArray();
    }

    private const int SpanKindServer = 2;
    private const int SpanKindClient = 3;

    private sealed record TraceSpans(string TraceId, IReadOnlyList<TraceSpan> Spans)
    {
        public override string ToString() =>
            $"trace {TraceId}: {string.Join("; ", Spans.Select(s => $"{s.Service} '{s.Name}' {s.SpanId} <- {s.ParentSpanId}"))}";

        public TimeSpan Duration => TimeSpan.FromTicks((Spans.Max(s => s.EndNanoseconds) - Spans.Min(s => s.StartNanoseconds)) / 100);
    }

    /// <summary>One span of the dashboard's OTLP JSON, with the <c>service.name</c> of the resource that sent it.</summary>
    private sealed record TraceSpan(
        string Service, string TraceId, string SpanId, string? ParentSpanId, string Name, int Kind,
        long StartNanoseconds, long EndNanoseconds, JsonArray Attributes)
    {
        public string? Attribute(string key) =>
            (string?)Attributes.FirstOrDefault(a => (string?)a?["key"] == key)?["value"]?["stringValue"];

        public static List<TraceSpan> Read(JsonObject body)
        {
            var spans = new List<TraceSpan>();
            foreach (var resourceSpans in body["data"]?["resourceSpans"]?.AsArray() ?? [])
            {
                var service = (string?)resourceSpans!["resource"]?["attributes"]?.AsArray()
                    .FirstOrDefault(a => (string?)a?["key"] == "service.name")?["value"]?["stringValue"] ?? "";
                foreach (var span in (resourceSpans["scopeSpans"]?.AsArray() ?? []).SelectMany(scope => scope!["spans"]?.AsArray() ?? []))
                {
                    spans.Add(new TraceSpan(
                        service,
                        (string)span!["traceId"]!,
                        (string)span["spanId"]!,
                        span["parentSpanId"] is JsonValue parent && (string?)parent is { Length: > 0 } parentId ? parentId : null,
                        (string)span["name"]!,
                        ReadKind(span["kind"]),
                        long.Parse((string)span["startTimeUnixNano"]!, CultureInfo.InvariantCulture),
                        long.Parse((string)span["endTimeUnixNano"]!, CultureInfo.InvariantCulture),
                        span["attributes"]?.AsArray() ?? []));
                }
            }

            return spans;
        }

        /// <summary>OTLP JSON writes the kind as its number; some writers use the enum's name.</summary>
        private static int ReadKind(JsonNode? kind) => kind switch
        {
            JsonValue value when value.TryGetValue<int>(out var number) => number,
            JsonValue value when value.TryGetValue<string>(out var name) => name switch
            {
                "SPAN_KIND_INTERNAL" => 1,
                "SPAN_KIND_SERVER" => SpanKindServer,
                "SPAN_KIND_CLIENT" => SpanKindClient,
                "SPAN_KIND_PRODUCER" => 4,
                "SPAN_KIND_CONSUMER" => 5,
                _ => 0,
            },
            _ => 0,
        };
    }
}

[CollectionDefinition(nameof(DashboardCollection), DisableParallelization = true)]
public sealed class DashboardCollection;
