using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DirectorsConsole.JobService.Tests.Api;
using DirectorsConsole.JobService.Tests.Engine;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Contract;

/// <summary>
/// The web app's ComfyUI client, in its "use orchestrator" mode, posts <c>{workflow, source, client_id}</c> to
/// <c>/api/job</c>. The original server refused that body (its field is <c>workflow_json</c>) with FastAPI's 422, and
/// so do we: the app is wrong here, and it reads nothing but <c>response.ok</c> before giving up.
/// </summary>
public sealed class JobContractTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    [Fact]
    public async Task TheAppsJobBodyIsRefusedAsTheOriginalRefusedIt()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await client.PostAsJsonAsync("/api/job", new
        {
            workflow = EngineRig.Prompt(3, 10),
            source = "directors-console",
            client_id = "dc_k3j9x2m1q8z",
        }, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var body = await JobsApiTests.ReadAsync(response);
        var error = Assert.Single(WireAssert.Kind(body, "detail", JsonValueKind.Array).AsArray());
        Assert.Equal("missing", (string?)error!["type"]);
        Assert.Equal("body", (string?)error["loc"]![0]);
    }
}
