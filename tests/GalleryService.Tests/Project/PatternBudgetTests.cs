using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Project;

/// <summary>Client patterns run under one time budget per request (<c>Gallery__PatternBudgetMilliseconds</c>), and
/// naming templates cannot take exponential time.</summary>
public sealed class PatternBudgetTests(ProjectEnvironment environment) : IClassFixture<ProjectEnvironment>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ATemplateOfManyWildcardsInARowIsMatchedWithoutBacktracking()
    {
        // Arrange: 20 wildcards each followed by an 'a', then a '!' no name has: exponential for a backtracking engine
        var pattern = string.Concat(Enumerable.Repeat("{x}a", 20)) + "!";
        File.WriteAllBytes(Path.Combine(environment.ProjectFolder, "Panel_02", new string('a', 60) + ".png"), TestPng.WithPrompt("a"));

        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/scan-project-images", new { path = environment.ProjectFolder, namingPattern = pattern }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, (int)(await ProjectEnvironment.ReadJsonAsync(response))["total"]!);
    }

    [Theory]
    [InlineData("scan-project-images", "namingPattern")]
    [InlineData("scan-versions", "pattern")]
    public async Task APatternThatSpendsTheRequestsBudgetIs422(string endpoint, string field)
    {
        // Arrange: a clock that moves 10 ms each time it is read, and a 10 ms budget: the second file is over it
        var service = environment.CreateReplica();
        using var client = service.WithWebHostBuilder(builder =>
        {
            builder.UseSetting("Gallery:PatternBudgetMilliseconds", "10");
            builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(new SteppingTimeProvider(TimeSpan.FromMilliseconds(10))));
        }).CreateClient();
        object body = endpoint == "scan-versions"
            ? new { folderPath = environment.ProjectFolder, pattern = "{project}_Panel{panel}_{version}" }
            : new { path = environment.ProjectFolder, namingPattern = "{project}_Panel{panel}_{version}" };

        // Act
        using var response = await client.PostAsJsonAsync("/api/" + endpoint, body, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = Assert.IsType<JsonArray>((await ProjectEnvironment.ReadJsonAsync(response))["detail"])[0]!;
        Assert.Equal(["body", field], error["loc"]!.AsArray().Select(segment => (string?)segment));
        Assert.Contains("Gallery__PatternBudgetMilliseconds", (string?)error["msg"], StringComparison.Ordinal);
    }

    /// <summary>Each read of the clock moves it on by <paramref name="step"/>: time spent without waiting for it.</summary>
    private sealed class SteppingTimeProvider(TimeSpan step) : TimeProvider
    {
        private long _timestamp;

        public override long GetTimestamp() => Interlocked.Add(ref _timestamp, (long)(step.TotalSeconds * TimestampFrequency));
    }
}
