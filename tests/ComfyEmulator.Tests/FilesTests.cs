using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;

namespace DirectorsConsole.ComfyEmulator.Tests;

public sealed class FilesTests
{
    [Fact]
    public async Task UploadReusesAnIdenticalFileAndRenamesADifferentOne()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        Assert.Equal("plate.png", (await UploadAsync(emulator, "plate.png", [1, 2, 3]))["name"]!.GetValue<string>());
        Assert.Equal("plate.png", (await UploadAsync(emulator, "plate.png", [1, 2, 3]))["name"]!.GetValue<string>());
        Assert.Equal("plate (1).png", (await UploadAsync(emulator, "plate.png", [9, 9]))["name"]!.GetValue<string>());
        Assert.Equal("plate (2).png", (await UploadAsync(emulator, "plate.png", [7]))["name"]!.GetValue<string>());
        Assert.Equal("plate.png", (await UploadAsync(emulator, "plate.png", [4], overwrite: "true"))["name"]!.GetValue<string>());

        var stored = await UploadAsync(emulator, "ref.png", [5, 6], type: "input", subfolder: "refs");
        Assert.Equal("""{"name":"ref.png","subfolder":"refs","type":"input"}""", stored.ToJsonString());
        Assert.Equal([5, 6], await emulator.Http.GetByteArrayAsync("/view?filename=ref.png&subfolder=refs&type=input", TestContext.Current.CancellationToken));
        Assert.Equal([4], await emulator.Http.GetByteArrayAsync("/api/view?filename=plate.png&type=input", TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("/view?filename=../secret.png&type=output", HttpStatusCode.BadRequest)]
    [InlineData("/view?filename=/etc/passwd", HttpStatusCode.BadRequest)]
    [InlineData("/view?filename=a.png&type=models", HttpStatusCode.BadRequest)]
    [InlineData("/view?filename=a.png&subfolder=../../etc", HttpStatusCode.Forbidden)]
    [InlineData("/view?filename=a.png&subfolder=/etc", HttpStatusCode.Forbidden)]
    [InlineData("/view?filename=missing.png&type=temp", HttpStatusCode.NotFound)]
    public async Task ViewRefusesEscapesAndReportsMissingFilesWithAnEmptyBody(string path, HttpStatusCode expected)
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        using var response = await emulator.Http.GetAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(expected, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.ToString());
    }

    private static async Task<JsonNode> UploadAsync(EmulatorInstance emulator, string name, byte[] content, string? type = null, string? subfolder = null, string? overwrite = null)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        form.Add(file, "image", name);
        if (type is not null) form.Add(new StringContent(type), "type");
        if (subfolder is not null) form.Add(new StringContent(subfolder), "subfolder");
        if (overwrite is not null) form.Add(new StringContent(overwrite), "overwrite");
        using var response = await emulator.Http.PostAsync("/upload/image", form, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
    }
}
