using System.Net;
using System.Text.Json;
using DirectorsConsole.BackendService.Comfy;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Comfy;

namespace DirectorsConsole.BackendService.Tests.Comfy;

public sealed class ComfyObjectInfoTests
{
    private static readonly DateTimeOffset At = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void ModelNamesAreReadFromLegacyAndV3CombosWithForwardSlashes()
    {
        // Arrange
        using var document = JsonDocument.Parse("""
            {
              "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["sdxl\\base.safetensors", "flux1-dev.safetensors"], {"tooltip": "x"}]}}},
              "CheckpointLoader": {"input": {"required": {"config_name": [["v1.yaml"]], "ckpt_name": [["old.ckpt", "flux1-dev.safetensors"]]}}},
              "UNETLoader": {"input": {"required": {"unet_name": ["COMBO", {"options": ["wan\\wan2.1_t2v.safetensors"], "multiselect": false}], "weight_dtype": [["default", "fp8_e4m3fn"]]}}},
              "LoraLoader": {"input": {"required": {"lora_name": [["styles\\film-grain.safetensors"]]}}},
              "LoraLoaderModelOnly": {"input": {"required": {"lora_name": ["COMBO", {"options": ["detail.safetensors"]}]}}},
              "VAELoader": {"input": {"required": {"vae_name": [["ae.safetensors", "taesd"]]}}},
              "EmptyImage": {"input": {"required": {"width": ["INT", {"default": 512}]}}}
            }
            """);

        // Act
        var discovered = ComfyObjectInfo.Parse(document.RootElement).ToDiscovered(At);

        // Assert
        Assert.Equal(["CheckpointLoader", "CheckpointLoaderSimple", "EmptyImage", "LoraLoader", "LoraLoaderModelOnly", "UNETLoader", "VAELoader"], discovered.NodeClasses);
        Assert.Equal(["flux1-dev.safetensors", "old.ckpt", "sdxl/base.safetensors"], discovered.Checkpoints);
        Assert.Equal(["wan/wan2.1_t2v.safetensors"], discovered.Unets);
        Assert.Equal(["detail.safetensors", "styles/film-grain.safetensors"], discovered.Loras);
        Assert.Equal(["ae.safetensors", "taesd"], discovered.Vaes);
        Assert.Equal(At, discovered.DiscoveredAt);
    }

    [Theory]
    [InlineData("""["INT", {"default": 1}]""")]
    [InlineData("""["COMBO"]""")]
    [InlineData("""["COMBO", {"multiselect": true}]""")]
    [InlineData("""[]""")]
    [InlineData("""{"options": ["a"]}""")]
    public void InputsThatAreNotCombosHaveNoOptions(string input)
    {
        // Arrange
        using var document = JsonDocument.Parse(input);

        // Act
        var options = ComfyObjectInfo.ComboOptions(document.RootElement);

        // Assert
        Assert.Empty(options);
    }

    [Fact]
    public void ANodeWithoutTheLoadersHasNoModels()
    {
        // Arrange
        using var document = JsonDocument.Parse("""{"TestProgressImage": {"input": {}}, "CheckpointLoaderSimple": {"display_name": "no inputs"}}""");

        // Act
        var discovered = ComfyObjectInfo.Parse(document.RootElement).ToDiscovered(At);

        // Assert
        Assert.Equal(["CheckpointLoaderSimple", "TestProgressImage"], discovered.NodeClasses);
        Assert.Empty(discovered.Checkpoints);
        Assert.Empty(discovered.Loras);
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://[fe80::1]/")]
    [InlineData("http://0.0.0.0:8188/")]
    [InlineData("http://metadata.google.internal/computeMetadata/v1/")]
    public async Task TheComfyHandlerRefusesToConnectToForbiddenAddresses(string url)
    {
        // Arrange
        using var http = new HttpClient(BackendHostPolicy.CreateHandler(TimeSpan.FromSeconds(2)));

        // Act
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(url, TestContext.Current.CancellationToken));

        // Assert
        Assert.StartsWith("Refused to connect", error.Message);
    }

    [Theory]
    [InlineData("::a9fe:a9fe", "IPv4-compatible")]
    [InlineData("::ffff:0:a9fe:a9fe", "IPv4-translated")]
    [InlineData("::ffff:169.254.169.254", "IPv4-mapped")]
    [InlineData("64:ff9b::a9fe:a9fe", "NAT64")]
    [InlineData("2002:a9fe:a9fe::1", "6to4")]
    [InlineData("169.254.10.1", "link-local")]
    [InlineData("192.0.0.192", "Oracle Cloud")]
    [InlineData("100.100.100.200", "Alibaba Cloud")]
    [InlineData("fd00:ec2::254", "AWS IMDS")]
    [InlineData("fe80::1%1", "link-local")]
    public async Task TheComfyHandlerRefusesANameThatResolvesToAForbiddenAddress(string resolved, string reason)
    {
        // Arrange: a DNS name that passed registration but points at a forbidden address when the node is called.
        var address = IPAddress.Parse(resolved);
        using var http = new HttpClient(BackendHostPolicy.CreateHandler(TimeSpan.FromSeconds(2), (_, _) => Task.FromResult<IPAddress[]>([address])));

        // Act
        var error = await Assert.ThrowsAsync<HttpRequestException>(
            () => http.GetAsync("http://render-node.studio.example:8188/system_stats", TestContext.Current.CancellationToken));

        // Assert
        Assert.StartsWith("Refused to connect to render-node.studio.example", error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public async Task TheComfyHandlerConnectsToAResolvedLoopbackName()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var http = new HttpClient(BackendHostPolicy.CreateHandler(TimeSpan.FromSeconds(2))) { Timeout = TimeSpan.FromSeconds(10) };
        var server = Task.Run(async () =>
        {
            using var connection = await listener.AcceptTcpClientAsync(ct);
            var stream = connection.GetStream();
            if (await stream.ReadAsync(new byte[4096], ct) == 0)
            {
                return;
            }

            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"u8.ToArray(), ct);
        }, ct);

        // Act
        using var response = await http.GetAsync($"http://localhost:{port}/system_stats", ct);
        await server;

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
