using System.Text.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>Where the recorded values are deterministic, the emulator must give the same values, not just the same shapes.</summary>
public sealed class ScenarioValueTests
{
    [Fact]
    public async Task InvalidWorkflowErrorsEqualTheRecordedBodiesValueForValue()
    {
        var replay = await ReplayAsync("invalid_workflow");
        var checkedBodies = 0;
        foreach (var response in replay.Responses.Where(r => r.Recorded.GetProperty("path").GetString() == "/prompt"))
        {
            var recorded = JsonNode.Parse(response.Recorded.GetProperty("body").GetRawText())!.AsObject();
            var actual = JsonNode.Parse(response.Body)!.AsObject();
            if (response.Status == 200)
            {
                recorded = new JsonObject { ["node_errors"] = recorded["node_errors"]!.DeepClone() };
                actual = new JsonObject { ["node_errors"] = actual["node_errors"]!.DeepClone() };
            }
            Assert.True(JsonNode.DeepEquals(recorded, actual), $"expected {recorded.ToJsonString()}\n     got {actual.ToJsonString()}");
            checkedBodies++;
        }
        Assert.Equal(10, checkedBodies);
    }

    [Fact]
    public async Task ProgressSuccessReportsEveryStepAndPaintsTheSeedColour()
    {
        var replay = await ReplayAsync("progress_success");
        var progress = replay.Frames.Where(f => f.Actual.Type == "progress").Select(f => (f.Actual.Data["value"]!.GetValue<int>(), f.Actual.Data["max"]!.GetValue<int>()));
        Assert.Equal([(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)], progress);
        var png = PngFile.Parse(replay.Responses.Single(r => r.Recorded.GetProperty("path").GetString() == "/view").Body);
        Assert.Equal(((byte)3, (byte)172, (byte)103), png.FirstPixel);
        Assert.Equal((40, 30), (png.Width, png.Height));
    }

    [Fact]
    public async Task NodeFailureReportsTheRecordedRuntimeErrorWithItsInputsAndTraceback()
    {
        var replay = await ReplayAsync("node_failure");
        var error = replay.Frames.Single(f => f.Actual.Type == "execution_error");
        var recorded = JsonNode.Parse(JsonDocument.Parse(error.Recorded.GetProperty("text").GetString()!).RootElement.GetProperty("data").GetRawText())!.AsObject();
        var actual = error.Actual.Data;
        foreach (var key in new[] { "node_id", "node_type", "executed", "exception_message", "exception_type", "traceback", "current_inputs", "current_outputs" })
        {
            Assert.True(JsonNode.DeepEquals(recorded[key], actual[key]), $"{key}: expected {recorded[key]?.ToJsonString()}, got {actual[key]?.ToJsonString()}");
        }
        Assert.Equal("TestProgressImage: deliberate failure at step 3 of 6 (seed=99)\n", actual["exception_message"]!.GetValue<string>());
    }

    [Fact]
    public async Task CachedResubmitListsTheCachedNodesAndWritesNoNewFile()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        var replay = new TranscriptReplay(Transcript.Load("cached_resubmit"), emulator);
        await replay.RunAsync();
        var cached = replay.Frames.Where(f => f.Actual.Type == "execution_cached").Select(f => string.Join(",", f.Actual.Data["nodes"]!.AsArray()));
        Assert.Equal(["", "1,2", "1"], cached);
        var files = Directory.EnumerateFiles(emulator.Folders.Output).Select(Path.GetFileName).Order();
        Assert.Equal(["rec_cache_00001_.png", "rec_cache_b_00001_.png"], files);
    }

    [Fact]
    public async Task QueueOpsDeletesClearsAndRunsTheFrontPromptFirst()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        var replay = new TranscriptReplay(Transcript.Load("queue_ops"), emulator) { SeparateStatusStream = true };
        await replay.RunAsync();
        var queues = replay.Responses.Where(r => r.Recorded.GetProperty("path").GetString() == "/queue" && r.Recorded.GetProperty("method").GetString() == "GET")
            .Select(r => JsonNode.Parse(r.Body)!).ToList();
        Assert.Equal([(1, 3), (1, 2), (1, 0), (0, 0), (1, 2)], queues.Select(q => (q["queue_running"]!.AsArray().Count, q["queue_pending"]!.AsArray().Count)));

        var posts = replay.Responses.Where(r => r.Recorded.GetProperty("path").GetString() == "/prompt" && r.Recorded.GetProperty("method").GetString() == "POST").Select(r => JsonNode.Parse(r.Body)!).ToList();
        var front = posts[^1];
        Assert.True(front["number"]!.GetValue<long>() < 0);
        var started = replay.Frames.Where(f => f.Actual.Type == "execution_start").Select(f => f.Actual.PromptId).ToList();
        Assert.Equal([posts[0]["prompt_id"]!.GetValue<string>(), posts[4]["prompt_id"]!.GetValue<string>(), front["prompt_id"]!.GetValue<string>(), posts[5]["prompt_id"]!.GetValue<string>()], started);
    }

    [Fact]
    public async Task StatusCountsTheRunningPromptAndIsSentOnEnqueueDequeueAndFinish()
    {
        var replay = await ReplayAsync("empty_image_save");
        var remaining = replay.Frames.Where(f => f.Actual.Type == "status").Select(f => f.Actual.Data["status"]!["exec_info"]!["queue_remaining"]!.GetValue<int>());
        Assert.Equal([0, 1, 1, 0], remaining);
    }

    private static async Task<TranscriptReplay> ReplayAsync(string scenario)
    {
        var transcript = Transcript.Load(scenario);
        await using var emulator = await EmulatorInstance.StartAsync();
        var replay = new TranscriptReplay(transcript, emulator);
        await replay.RunAsync();
        return replay;
    }
}
