namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>Every recorded scenario, replayed against a fresh emulator (the recordings, too, start from a fresh server).</summary>
public sealed class TranscriptReplayTests
{
    [Theory]
    [InlineData("server_info")]
    [InlineData("ws_handshake")]
    [InlineData("empty_image_save")]
    [InlineData("cached_resubmit")]
    [InlineData("progress_success")]
    [InlineData("interrupt")]
    [InlineData("node_failure")]
    [InlineData("invalid_workflow")]
    [InlineData("preview_and_ws_binary")]
    [InlineData("ws_client_routing")]
    [InlineData("history_ops")]
    public async Task ScenarioReplaysLikeComfyUi(string scenario)
    {
        var transcript = Transcript.Load(scenario);
        await using var emulator = await EmulatorInstance.StartAsync();
        await new TranscriptReplay(transcript, emulator).RunAsync();
    }

    [Fact]
    public async Task QueueOpsReplaysLikeComfyUiWithStatusBroadcastsComparedAsTheirOwnStream()
    {
        var transcript = Transcript.Load("queue_ops");
        await using var emulator = await EmulatorInstance.StartAsync();
        await new TranscriptReplay(transcript, emulator) { SeparateStatusStream = true }.RunAsync();
    }
}
