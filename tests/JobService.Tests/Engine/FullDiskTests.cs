using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// Garnet keeps its data on a small tmpfs that the test fills to the last byte: submissions are refused (507) and
/// health is degraded while it is full, accepted again once space is freed with nothing restarted, and after Garnet
/// is restarted from its data directory every job that was accepted is still there, completed ones still completed.
/// </summary>
public sealed class FullDiskTests
{
    private const int FileSystemMegabytes = 64;
    private const int MinFreeMegabytes = 16;
    private const int JobsPerPhase = 5;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AFullDiskRefusesSubmissionsAndLosesNothingThatWasAccepted()
    {
        var (disk, failure) = await TmpfsMount.TryMountAsync(FileSystemMegabytes, Token);
        Assert.SkipWhen(disk is null, $"A tmpfs is needed to fill a file system: {failure}");
        await using var _ = disk;
        await using var rig = await EngineRig.StartAsync([1, 1], garnetDataDirectory: Path.Combine(disk!.Path, "redis"), serviceSettings: new Dictionary<string, string?>
        {
            ["Redis:Durability:ProbeInterval"] = "00:00:00.2",
            ["Redis:Durability:MinFreeMegabytes"] = MinFreeMegabytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        using var client = rig.Client();
        var accepted = new List<string>();
        for (var i = 0; i < JobsPerPhase; i++)
        {
            accepted.Add(await SubmitAsync(client));
        }

        foreach (var jobId in accepted)
        {
            await rig.WaitForJobAsync(jobId, j => j.Status == JobStatuses.Completed);
        }

        // Below the threshold first, while writes still have room, then to the last byte once every process writing to
        // this Garnet refuses writes: BackendService's own probe may see the threshold later than JobService's (a busy
        // machine delays its timer), and a lease renewal of its reaching a full disk stops Garnet's commits for good.
        await disk.FillAsync(MinFreeMegabytes * 1024L * 1024 / 2, Token);
        using var backendService = rig.BackendService.CreateClient();
        await WaitForHealthAsync(client, "degraded");
        await WaitForHealthAsync(backendService, "degraded");
        await disk.FillAsync(0, Token);
        Assert.True(disk.FreeBytes < 4096, $"{disk.FreeBytes} bytes are still free");

        using (var refused = await client.PostAsJsonAsync("/api/job", new { workflow_json = EngineRig.Prompt(2, 10) }, Token))
        {
            Assert.Equal(HttpStatusCode.InsufficientStorage, refused.StatusCode);
            Assert.True(refused.Headers.RetryAfter is not null, "507 without Retry-After");
            var detail = (string?)JsonNode.Parse(await refused.Content.ReadAsStringAsync(Token))!["detail"];
            Assert.Contains("free under the Redis data directory", detail);
        }

        var health = await WaitForHealthAsync(client, "degraded");
        Assert.Contains("free under the Redis data directory", (string?)health["checks"]!["redis-durability"]!["description"]);

        await disk.FreeAsync();
        await WaitForHealthAsync(client, "healthy");
        var acceptedAfter = new List<string>();
        for (var i = 0; i < JobsPerPhase; i++)
        {
            acceptedAfter.Add(await SubmitAsync(client));
        }

        foreach (var jobId in acceptedAfter)
        {
            await rig.WaitForJobAsync(jobId, j => j.Status == JobStatuses.Completed);
        }

        Assert.DoesNotContain("No space left on device", rig.Garnet.Output);
        await rig.Garnet.RestartAsync(Token);

        foreach (var jobId in accepted.Concat(acceptedAfter))
        {
            var job = await rig.WaitForJobAsync(jobId, j => j.Status == JobStatuses.Completed);
            Assert.Equal(JobStatuses.Completed, job.Status);
        }
    }

    private static async Task<string> SubmitAsync(HttpClient client)
    {
        using var response = await client.PostAsJsonAsync("/api/job", new { workflow_json = EngineRig.Prompt(2, 10) }, Token);
        var body = await response.Content.ReadAsStringAsync(Token);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return (string)JsonNode.Parse(body)!["job_id"]!;
    }

    private static async Task<JsonNode> WaitForHealthAsync(HttpClient client, string status)
    {
        var health = await Eventually.ReturnsAsync(
            async () =>
            {
                // 503 is an answer too: Redis can be slow to answer PING for a moment while its disk fills or frees.
                using var response = await client.GetAsync("/health", Token);
                return JsonNode.Parse(await response.Content.ReadAsStringAsync(Token))!;
            },
            h => (string?)h["status"] == status,
            TimeSpan.FromSeconds(30));
        Assert.True((string?)health["status"] == status, $"/health did not become {status}: {health.ToJsonString()}");
        return health;
    }
}
