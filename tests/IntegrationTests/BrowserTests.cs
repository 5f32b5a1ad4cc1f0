using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using DirectorsConsole.Testing;
using Microsoft.Playwright;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// The Director's Console web app runs in a browser on a page of its own (another port than the Gateway's), so every
/// call it makes is a cross-origin request. This test does what the app does, in headless Chromium: from a page served
/// on another localhost port it reads the node list and a folder tree through the Gateway, shows a thumbnail from
/// <c>serve-image</c> in an <c>&lt;img&gt;</c>, and polls an emulated node's <c>/system_stats</c> directly with the
/// JSON content type the app sends (which makes the browser send a CORS preflight to the node).
/// </summary>
[Collection(nameof(SuiteCollection))]
public sealed class BrowserTests(RunningSuiteFixture fixture)
{
    private const string Chromium = "/usr/bin/chromium";

    // The calls of the app's gallery, image viewer and node manager, with the app's request bodies and headers.
    private const string AppCalls = """
        async ({ gateway, project, image }) => {
          const result = {};
          const tree = await fetch(`${gateway}/api/gallery/scan-tree`, {
            method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ folder_path: project }) });
          result.treeStatus = tree.status;
          result.treeIsObject = typeof (await tree.json()) === 'object';

          const thumbnail = new Image();
          await new Promise((resolve) => { thumbnail.onload = resolve; thumbnail.onerror = resolve;
            thumbnail.src = `${gateway}/api/serve-image?path=${encodeURIComponent(image)}`; });
          result.thumbnailWidth = thumbnail.naturalWidth;

          const backends = await (await fetch(`${gateway}/api/backends`)).json();
          const node = backends.backends.find((b) => b.online);
          result.lastSeenParses = !Number.isNaN(new Date(node.last_seen).getTime());
          const stats = await fetch(`http://${node.host}:${node.port}/system_stats`, {
            method: 'GET', headers: { 'Content-Type': 'application/json' } });
          result.nodeStatus = stats.status;
          result.nodeDevices = (await stats.json()).devices.length;
          return result;
        }
        """;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task APageOnAnotherPortReadsTheTreeShowsAThumbnailAndPollsANodeInChromium()
    {
        Assert.SkipUnless(File.Exists(Chromium), $"{Chromium} is not installed (apt-get install -y chromium)");

        // Arrange: a PNG in a project under the default root, a page server on another port, the online nodes.
        var project = Path.Combine(fixture.Suite.WorkingDirectory, "data", "projects", $"Browser-{Guid.NewGuid():N}"[..16]);
        var image = Path.Combine(project, "Panel_01", "shot_v001.png");
        Directory.CreateDirectory(Path.GetDirectoryName(image)!);
        await File.WriteAllBytesAsync(image, TestPng.WithPrompt("a lighthouse at dusk"), Ct);
        await fixture.Suite.WaitForHealthAsync(status => status == "healthy", TimeSpan.FromSeconds(60), Ct,
            health => (int?)health["backends_online"] >= 1);
        await using var page = await AppPage.StartAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // Root in a container has no user namespace for Chromium's sandbox.
            Args = ["--no-sandbox"],
        });
        var tab = await browser.NewPageAsync();
        await tab.GotoAsync(page.Address);

        // Act
        var result = await tab.EvaluateAsync<JsonElement>(AppCalls, new
        {
            gateway = fixture.Suite.Gateway.BaseAddress!.ToString().TrimEnd('/'),
            project,
            image,
        });

        // Assert
        Assert.Equal(200, result.GetProperty("treeStatus").GetInt32());
        Assert.True(result.GetProperty("treeIsObject").GetBoolean());
        Assert.True(result.GetProperty("thumbnailWidth").GetInt32() > 0, result.ToString());
        Assert.True(result.GetProperty("lastSeenParses").GetBoolean());
        Assert.Equal(200, result.GetProperty("nodeStatus").GetInt32());
        Assert.True(result.GetProperty("nodeDevices").GetInt32() > 0);
    }

    /// <summary>An empty HTML page on 127.0.0.1 and a port of its own: the origin the app's calls come from.</summary>
    private sealed class AppPage : IAsyncDisposable
    {
        private readonly HttpListener _listener;
        private readonly Task _serving;

        private AppPage(HttpListener listener, string address)
        {
            _listener = listener;
            Address = address;
            _serving = ServeAsync();
        }

        public string Address { get; }

        public static Task<AppPage> StartAsync()
        {
            var port = TestPorts.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture);
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            listener.Start();
            return Task.FromResult(new AppPage(listener, $"http://127.0.0.1:{port}/"));
        }

        private async Task ServeAsync()
        {
            var html = Encoding.UTF8.GetBytes("<!doctype html><html><head><title>Director's Console</title></head><body></body></html>");
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                context.Response.ContentType = "text/html; charset=utf-8";
                await context.Response.OutputStream.WriteAsync(html);
                context.Response.Close();
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _serving;
        }
    }
}
