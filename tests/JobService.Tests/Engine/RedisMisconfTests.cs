using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// A real redis-server that cannot save refuses writes with <c>MISCONF</c>: that reply closes JobService's write gate, so
/// every state-changing request is refused with 507 and a detail (reads still work), and once the server can persist
/// again the durability monitor saves and reopens the gate, with nothing restarted.
/// </summary>
public sealed class RedisMisconfTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MisconfClosesTheWriteGateUntilTheServerCanPersistAgain()
    {
        Assert.SkipUnless(RedisServerProcess.IsRedisServerAvailable,
            "redis-server is not on PATH, so a real Redis cannot answer MISCONF here (CI installs Debian's redis-server).");
        var root = Directory.CreateTempSubdirectory("dc-misconf-").FullName;
        try
        {
            // The test moves the server's directory as an operator would, which Redis allows only when told to.
            await using var server = await RedisServerProcess.StartRedisAsync(Path.Combine(root, "redis"), Token, ["--enable-protected-configs", "yes"]);
            await using var service = new ServiceFactory<Program>(server.ConnectionString, new Dictionary<string, string?>
            {
                ["Redis:Durability:ProbeInterval"] = "00:00:00.2",
            });
            using var client = service.CreateClient();
            var accepted = await SubmitAsync(client);
            Assert.Equal(HttpStatusCode.Accepted, accepted.Status);

            // Snapshots into a directory that is then removed: the next save fails and Redis refuses writes from then on.
            var snapshots = Directory.CreateDirectory(Path.Combine(root, "snapshots")).FullName;
            await using var admin = new RedisConnection(new RedisOptions { ConnectionString = server.ConnectionString });
            await admin.ExecuteAsync(["CONFIG", "SET", "save", "3600 1"], Token);
            await admin.ExecuteAsync(["CONFIG", "SET", "dir", snapshots], Token);
            Directory.Delete(snapshots);
            await admin.ExecuteAsync(["BGSAVE"], Token);
            await Eventually.ReturnsAsync(async () => (await admin.ExecuteAsync(["INFO", "persistence"], Token)).AsString() ?? "",
                info => info.Contains("rdb_last_bgsave_status:err", StringComparison.Ordinal) && info.Contains("rdb_bgsave_in_progress:0", StringComparison.Ordinal));

            var refused = await SubmitAsync(client);
            Assert.Equal(HttpStatusCode.InsufficientStorage, refused.Status);
            Assert.Contains("MISCONF", refused.Detail);
            Assert.False(service.Services.GetRequiredService<DirectorsConsole.Messaging.Durability.DurabilityGate>().IsOpen);
            // Now refused before anything is sent, with the cause; reads keep working.
            var refusedAtTheDoor = await SubmitAsync(client);
            Assert.Equal(HttpStatusCode.InsufficientStorage, refusedAtTheDoor.Status);
            Assert.Contains("cannot persist writes", refusedAtTheDoor.Detail);
            using (var read = await client.GetAsync($"/api/job/{accepted.Body!["job_id"]}", Token))
            {
                Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            }

            // The operator gives Redis its directory back: the monitor saves and reopens the gate.
            Directory.CreateDirectory(snapshots);
            await admin.ExecuteAsync(["CONFIG", "SET", "dir", snapshots], Token);
            var reopened = await Eventually.ReturnsAsync(() => SubmitAsync(client), s => s.Status == HttpStatusCode.Accepted, TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.Accepted, reopened.Status);
            Assert.True(File.Exists(Path.Combine(snapshots, "dump.rdb")), "the monitor did not save before reopening the gate");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<(HttpStatusCode Status, string Detail, JsonNode? Body)> SubmitAsync(HttpClient client)
    {
        using var response = await client.PostAsJsonAsync("/api/job", new { workflow_json = EngineRig.Prompt(2, 10) }, Token);
        var text = await response.Content.ReadAsStringAsync(Token);
        var body = JsonNode.Parse(text);
        if (response.StatusCode == HttpStatusCode.InsufficientStorage)
        {
            Assert.True(response.Headers.RetryAfter is not null, "507 without Retry-After");
        }

        return (response.StatusCode, body?["detail"] is JsonValue detail ? (string)detail! : text, body);
    }
}
