using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>ComfyUI started with <c>--enable-cors-header</c>, which the web app needs to poll nodes from the
/// browser; without the switch nothing is added, as in ComfyUI.</summary>
public sealed class CorsTests
{
    [Fact]
    public async Task APreflightIsAnswered200WithTheFourHeadersWithoutReachingARoute()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--enable-cors-header", "*");
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/system_stats");
        preflight.Headers.Add("Origin", "http://localhost:5173");
        preflight.Headers.Add("Access-Control-Request-Method", "GET");
        preflight.Headers.Add("Access-Control-Request-Headers", "content-type");

        using var response = await emulator.Http.SendAsync(preflight, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal("*", Single(response, "Access-Control-Allow-Origin"));
        Assert.Equal("POST, GET, DELETE, PUT, OPTIONS, PATCH", Single(response, "Access-Control-Allow-Methods"));
        Assert.Equal("Content-Type, Authorization", Single(response, "Access-Control-Allow-Headers"));
        Assert.Equal("true", Single(response, "Access-Control-Allow-Credentials"));
    }

    [Fact]
    public async Task EveryAnswerCarriesTheConfiguredOriginWhateverTheRequestsOrigin()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--enable-cors-header", "http://studio:5173");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/system_stats");
        request.Headers.Add("Origin", "http://elsewhere:3000");

        using var stats = await emulator.Http.SendAsync(request, TestContext.Current.CancellationToken);
        using var missing = await emulator.Http.GetAsync("/no-such-route", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
        Assert.Equal("http://studio:5173", Single(stats, "Access-Control-Allow-Origin"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("http://studio:5173", Single(missing, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task WithoutTheSwitchNoCorsHeaderIsSent()
    {
        await using var emulator = await EmulatorInstance.StartAsync();

        using var stats = await emulator.Http.GetAsync("/system_stats", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
        Assert.False(stats.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task ABroadcastReachesEverySocketLikeAMonitorExtensionsMessage()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        await using var first = await emulator.ConnectAsync("/ws?clientId=one");
        await using var second = await emulator.ConnectAsync("/ws?clientId=two");
        await first.NextAsync();
        await second.NextAsync();
        var data = new JsonObject { ["cpu_utilization"] = 3.5, ["gpus"] = new JsonArray(new JsonObject { ["gpu_utilization"] = 40.0 }) };

        using var content = new StringContent(new JsonObject { ["type"] = "crystools.monitor", ["data"] = data }.ToJsonString(), Encoding.UTF8, "application/json");
        using var sent = await emulator.Http.PostAsync("/_emulator/broadcast", content, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NoContent, sent.StatusCode);
        foreach (var socket in new[] { first, second })
        {
            var frame = (await socket.UntilAsync(f => f.Type == "crystools.monitor"))[^1];
            Assert.True(JsonNode.DeepEquals(data, frame.Data), frame.ToString());
        }
    }

    private static string Single(HttpResponseMessage response, string header) =>
        Assert.Single(response.Headers.TryGetValues(header, out var values) ? values : response.Content.Headers.GetValues(header));
}
