using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>One emulator on a real Kestrel socket at 127.0.0.1 (port 0), as a client would meet it.</summary>
public sealed class EmulatorInstance : IAsyncDisposable
{
    private readonly WebApplication app;

    private EmulatorInstance(WebApplication app, Uri baseAddress)
    {
        this.app = app;
        BaseAddress = baseAddress;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri BaseAddress { get; }

    public HttpClient Http { get; }

    public ComfyFolders Folders => app.Services.GetRequiredService<ComfyFolders>();

    public static async Task<EmulatorInstance> StartAsync(params string[] args)
    {
        var app = EmulatorApp.Create(["--port", "0", "--Logging:LogLevel:Default=Warning", .. args]);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new EmulatorInstance(app, new Uri(app.Urls.Single()));
    }

    public async Task<TestSocket> ConnectAsync(string pathAndQuery)
    {
        var uri = new UriBuilder(BaseAddress) { Scheme = "ws" }.Uri;
        return await TestSocket.ConnectAsync(new Uri(uri, pathAndQuery));
    }

    public async Task<JsonNode> GetJsonAsync(string path) =>
        JsonNode.Parse(await Http.GetStringAsync(path, TestContext.Current.CancellationToken))!;

    public async Task<(int Status, JsonNode? Body)> PostJsonAsync(string path, JsonNode body)
    {
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await Http.PostAsync(path, content, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    /// <summary>Queues a prompt and returns its id (the test fails unless the emulator accepts it).</summary>
    public async Task<string> QueueAsync(JsonObject prompt, string? clientId = null, JsonObject? extra = null)
    {
        var body = new JsonObject { ["prompt"] = prompt.DeepClone() };
        if (clientId is not null) body["client_id"] = clientId;
        foreach (var (key, value) in extra ?? []) body[key] = value?.DeepClone();
        var (status, response) = await PostJsonAsync("/prompt", body);
        Assert.True(status == 200, $"POST /prompt: {status} {response?.ToJsonString()}");
        return response!["prompt_id"]!.GetValue<string>();
    }

    public Task<HttpResponseMessage> ControlAsync(string action, object? body = null) =>
        Http.PostAsJsonAsync("/_emulator/" + action, body ?? new { }, TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await app.StopAsync(CancellationToken.None);
        await app.DisposeAsync();
    }
}
