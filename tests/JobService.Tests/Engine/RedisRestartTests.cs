using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>Garnet restarted under a steady stream of requests to JobService: within Redis:OutageGrace no client sees an
/// error, and a submission made while Garnet is down is carried out once it is back.</summary>
public sealed class RedisRestartTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RequestsDuringAGarnetRestartShorterThanTheGraceAllSucceed()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("dc-garnet-").FullName;
        using var cleanup = new DirectoryCleanup(dataDirectory);
        // The service keeps its default Redis:OutageGrace (30 s). Measured here on a loaded 2-core machine: Garnet answers
        // again 5 to 10 s after it is started (it replays its append-only file), and the client is connected about 0.5 s
        // after that (at worst its 5 s reconnect back-off), so the grace covers the outage about twice over.
        await using var rig = await EngineRig.StartAsync([1], garnetDataDirectory: dataDirectory);
        using var client = rig.Client();
        var first = await SubmitAsync(client);
        await rig.WaitForJobAsync(first, j => j.Status == JobStatuses.Completed);

        var errors = new ConcurrentQueue<string>();
        var answered = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var readers = Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await client.GetAsync(i % 2 == 0 ? $"/api/job/{first}" : "/api/jobs?limit=10", stop.Token);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        errors.Enqueue($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(stop.Token)}");
                    }

                    Interlocked.Increment(ref answered);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
            }
        }, Token)).ToArray();
        await Eventually.ReturnsAsync(() => Task.FromResult(Volatile.Read(ref answered)), n => n > 40);

        var killed = TimeProvider.System.GetTimestamp();
        await rig.Garnet.KillAsync();
        // Once the service has seen the connection go, the submission below is certainly not sent before Garnet is back.
        var redis = rig.Get<DirectorsConsole.Messaging.IRedisConnection>();
        await Eventually.ReturnsAsync(() => Task.FromResult(redis.IsConnected), connected => !connected);
        var duringOutage = SubmitAsync(client);
        var restartStarted = TimeProvider.System.GetTimestamp();
        await rig.Garnet.RestartAsync(Token);
        var serverBack = TimeProvider.System.GetTimestamp();
        await Eventually.ReturnsAsync(() => Task.FromResult(redis.IsConnected), connected => connected, TimeSpan.FromSeconds(60));
        var reconnected = TimeProvider.System.GetTimestamp();
        var answeredAfterRestart = Volatile.Read(ref answered);
        var submittedDuringOutage = await duringOutage;
        await Eventually.ReturnsAsync(() => Task.FromResult(Volatile.Read(ref answered)), n => n > answeredAfterRestart + 40);
        await stop.CancelAsync();
        await Task.WhenAll(readers);

        var restart = TimeProvider.System.GetElapsedTime(restartStarted, serverBack);
        var reconnect = TimeProvider.System.GetElapsedTime(serverBack, reconnected);
        var outage = TimeProvider.System.GetElapsedTime(killed, reconnected);
        TestContext.Current.SendDiagnosticMessage($"Garnet answered again {restart.TotalSeconds:0.0} s after it was started; the client was connected {reconnect.TotalSeconds:0.0} s later " +
            $"({outage.TotalSeconds:0.0} s after the kill; grace 30 s).");
        Console.WriteLine($"[RedisRestartTests] Garnet restart {restart.TotalSeconds:0.0} s, client reconnected {reconnect.TotalSeconds:0.0} s after the server answered, " +
            $"{outage.TotalSeconds:0.0} s after the kill");
        Assert.True(errors.IsEmpty, $"{errors.Count} requests failed: {string.Join("; ", errors.Take(5))}");
        await rig.WaitForJobAsync(submittedDuringOutage, j => j.Status == JobStatuses.Completed);
        Assert.Equal(JobStatuses.Completed, (await rig.Engine().GetJobAsync(first, Token))?.Status);
    }

    private static async Task<string> SubmitAsync(HttpClient client)
    {
        using var response = await client.PostAsJsonAsync("/api/job", new { workflow_json = EngineRig.Prompt(2, 10) }, Token);
        var body = await response.Content.ReadAsStringAsync(Token);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return (string)JsonNode.Parse(body)!["job_id"]!;
    }

    private sealed class DirectoryCleanup(string path) : IDisposable
    {
        public void Dispose() => Directory.Delete(path, recursive: true);
    }
}
