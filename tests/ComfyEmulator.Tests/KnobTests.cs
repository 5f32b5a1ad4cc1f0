using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>The failure knobs, from the command line and from <c>/_emulator</c>.</summary>
public sealed class KnobTests
{
    [Fact]
    public async Task FailAtNodeFromTheCommandLineMakesThatNodeRaiseAnExecutionError()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--fail-at-node", "2");
        await using var socket = await emulator.ConnectAsync("/ws?clientId=knob");
        await socket.NextAsync();
        var promptId = await emulator.QueueAsync(Workflows.EmptyImageSave(), "knob");

        var frames = await socket.UntilRunOverAsync(promptId);
        var error = frames.Single(f => f.Type == "execution_error").Data;
        Assert.Equal("2", error["node_id"]!.GetValue<string>());
        Assert.Equal("SaveImage", error["node_type"]!.GetValue<string>());
        Assert.Equal("RuntimeError", error["exception_type"]!.GetValue<string>());
        Assert.Equal(["1"], error["executed"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.DoesNotContain(frames, f => f.Type == "execution_success");
        var status = (await emulator.GetJsonAsync("/history/" + promptId))[promptId]!["status"]!;
        Assert.Equal("error", status["status_str"]!.GetValue<string>());
    }

    [Fact]
    public async Task FailAtNodeCanBeSetAndClearedAtRuntime()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        await using var socket = await emulator.ConnectAsync("/ws?clientId=knob");
        await socket.NextAsync();

        using (var set = await emulator.ControlAsync("config", new { fail_at_node = "1" })) Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        var failing = await emulator.QueueAsync(Workflows.EmptyImageSave(), "knob");
        Assert.Contains(await socket.UntilRunOverAsync(failing), f => f.Type == "execution_error" && f.Data["node_id"]!.GetValue<string>() == "1");

        using (var clear = await emulator.ControlAsync("config", new { fail_at_node = "" })) Assert.Equal(HttpStatusCode.OK, clear.StatusCode);
        var passing = await emulator.QueueAsync(Workflows.EmptyImageSave(), "knob");
        Assert.Contains(await socket.UntilRunOverAsync(passing), f => f.Type == "execution_success");
    }

    [Fact]
    public async Task AStalledEmulatorAcceptsAndStartsPromptsButFinishesThemOnlyWhenUnstalled()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        await using var socket = await emulator.ConnectAsync("/ws?clientId=stall");
        await socket.NextAsync();
        using (var stall = await emulator.ControlAsync("stall")) Assert.Equal(HttpStatusCode.OK, stall.StatusCode);

        var promptId = await emulator.QueueAsync(Workflows.EmptyImageSave(), "stall");
        await socket.UntilAsync(f => f.Type == "execution_cached");
        // A stalled prompt cannot finish, so however long this check waits it must still find it running.
        await Task.Delay(200, TestContext.Current.CancellationToken);
        var queue = await emulator.GetJsonAsync("/queue");
        Assert.Equal(promptId, queue["queue_running"]![0]![1]!.GetValue<string>());
        Assert.Empty((await emulator.GetJsonAsync("/history/" + promptId)).AsObject());
        Assert.DoesNotContain(socket.Buffered(), f => f.Type is "executing" or "executed");

        using (var unstall = await emulator.ControlAsync("unstall")) Assert.Equal(HttpStatusCode.OK, unstall.StatusCode);
        Assert.Contains(await socket.UntilRunOverAsync(promptId), f => f.Type == "execution_success");
    }

    [Fact]
    public async Task AStalledPromptCanStillBeInterrupted()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--stalled", "true");
        await using var socket = await emulator.ConnectAsync("/ws?clientId=stall");
        await socket.NextAsync();
        var promptId = await emulator.QueueAsync(Workflows.EmptyImageSave(), "stall");
        await socket.UntilAsync(f => f.Type == "execution_cached");

        await emulator.PostJsonAsync("/interrupt", new JsonObject { ["prompt_id"] = promptId });
        Assert.Contains(await socket.UntilRunOverAsync(promptId), f => f.Type == "execution_interrupted");
    }

    [Fact]
    public async Task DropSocketsAbortsEveryConnectionAndClientsCanReconnect()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        await using var first = await emulator.ConnectAsync("/ws?clientId=one");
        await using var second = await emulator.ConnectAsync("/ws");
        await first.NextAsync();
        await second.NextAsync();

        using var dropped = await emulator.ControlAsync("drop-sockets");
        Assert.Equal(2, (await dropped.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!["dropped"]!.GetValue<int>());
        await first.Closed.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await second.Closed.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        await using var again = await emulator.ConnectAsync("/ws?clientId=one");
        Assert.Equal("one", (await again.NextAsync()).Data["sid"]!.GetValue<string>());
    }

    [Fact]
    public async Task RestartForgetsQueueHistoryCacheAndCounterAndDropsSockets()
    {
        await using var emulator = await EmulatorInstance.StartAsync();
        await using var socket = await emulator.ConnectAsync("/ws?clientId=restart");
        await socket.NextAsync();
        var finished = await emulator.QueueAsync(Workflows.EmptyImageSave("before"), "restart");
        await socket.UntilRunOverAsync(finished);
        var running = await emulator.QueueAsync(Workflows.ProgressImageSave(steps: 1000, delayMs: 20, seed: 1), "restart");
        await emulator.QueueAsync(Workflows.ProgressImageSave(steps: 1, delayMs: 0, seed: 2), "restart");
        await socket.UntilAsync(f => f.Type == "progress" && f.PromptId == running);

        using (var restart = await emulator.ControlAsync("restart")) Assert.Equal(HttpStatusCode.NoContent, restart.StatusCode);
        await socket.Closed.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Empty((await emulator.GetJsonAsync("/history")).AsObject());
        var queue = await emulator.GetJsonAsync("/queue");
        Assert.Empty(queue["queue_running"]!.AsArray());
        Assert.Empty(queue["queue_pending"]!.AsArray());
        Assert.Equal(0, (await emulator.GetJsonAsync("/prompt"))["exec_info"]!["queue_remaining"]!.GetValue<int>());

        await using var reconnected = await emulator.ConnectAsync("/ws?clientId=restart");
        await reconnected.NextAsync();
        var (_, response) = await emulator.PostJsonAsync("/prompt", new JsonObject { ["prompt"] = Workflows.EmptyImageSave("before"), ["client_id"] = "restart" });
        Assert.Equal(0, response!["number"]!.GetValue<int>());
        var frames = await reconnected.UntilRunOverAsync(response["prompt_id"]!.GetValue<string>());
        // Nothing is cached after a restart, and the output counter continues from the files on disk.
        Assert.Empty(frames.Single(f => f.Type == "execution_cached").Data["nodes"]!.AsArray());
        var image = frames.Single(f => f.Type == "executed").Data["output"]!["images"]![0]!;
        Assert.Equal("before_00002_.png", image["filename"]!.GetValue<string>());
        Assert.Empty((await emulator.GetJsonAsync("/history/" + running)).AsObject());
    }

    [Fact]
    public async Task WindowsHostReportsBackslashSubfoldersAndServesThem()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--os", "nt");
        await using var socket = await emulator.ConnectAsync("/ws?clientId=nt");
        await socket.NextAsync();
        var promptId = await emulator.QueueAsync(Workflows.EmptyImageSave("shots/sh010/beauty"), "nt");
        var image = (await socket.UntilRunOverAsync(promptId)).Single(f => f.Type == "executed").Data["output"]!["images"]![0]!;

        Assert.Equal("shots\\sh010", image["subfolder"]!.GetValue<string>());
        Assert.Equal("beauty_00001_.png", image["filename"]!.GetValue<string>());
        using var view = await emulator.Http.GetAsync("/view?filename=beauty_00001_.png&type=output&subfolder=" + Uri.EscapeDataString("shots\\sh010"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, view.StatusCode);
        Assert.Equal("nt", (await emulator.GetJsonAsync("/system_stats"))["system"]!["os"]!.GetValue<string>());
    }

    [Fact]
    public async Task ConfigEndpointReportsAndValidatesTheKnobs()
    {
        await using var emulator = await EmulatorInstance.StartAsync("--step-delay-ms", "7", "--gpu-name", "RTX A6000", "--vram-gb", "48");
        var config = await emulator.GetJsonAsync("/_emulator/config");
        Assert.Equal(7, config["step_delay_ms"]!.GetValue<int>());
        Assert.Equal("RTX A6000", config["gpu_name"]!.GetValue<string>());

        using var bad = await emulator.ControlAsync("config", new { os = "darwin" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using var good = await emulator.ControlAsync("config", new { step_delay_ms = 0, vram_gb = 12, os = "nt" });
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        var stats = await emulator.GetJsonAsync("/system_stats");
        Assert.Equal(12L << 30, stats["devices"]![0]!["vram_total"]!.GetValue<long>());
        Assert.Equal("nt", stats["system"]!["os"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("--port", "70000")]
    [InlineData("--os", "darwin")]
    [InlineData("--step-delay-ms", "-1")]
    [InlineData("--checkpoints", "../secret.safetensors")]
    public async Task BadOptionValuesStopStartUpWithAClearMessage(string option, string value)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            await using var app = EmulatorApp.Create(["--Logging:LogLevel:Default=None", option, value]);
            await app.StartAsync(TestContext.Current.CancellationToken);
        });
        Assert.Contains(option, string.Join(" ", error.Failures));
    }

    [Fact]
    public void AValueOfTheWrongTypeIsReportedByItsOptionName()
    {
        var error = Assert.Throws<ArgumentException>(() => EmulatorApp.Create(["--port", "abc"]));
        Assert.StartsWith("--port: ", error.Message);
    }

    [Fact]
    public void AnUnknownOptionStopsStartUp()
    {
        var error = Assert.Throws<ArgumentException>(() => EmulatorApp.Create(["--step-delay", "5"]));
        Assert.Contains("--step-delay-ms", error.Message);
    }
}
