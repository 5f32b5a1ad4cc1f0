using System.Text.Json.Nodes;
using DirectorsConsole.Comfy;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>ComfyUI's answers, as a real ComfyUI 0.3.64 sent them (comfyui-transcripts), read into our records.</summary>
public sealed class ComfyResponsesTests
{
    private static readonly Uri Node = new("http://10.0.0.5:8188/");

    [Fact]
    public void SuccessfulHistoryGivesEveryImageWithViewUrl()
    {
        // Arrange: progress_success.jsonl, GET /history/{id}
        var body = JsonNode.Parse("""
            {"61f37bbd-e040-470f-bb68-2c503c6f2d4a": {"prompt": [4, "61f37bbd-e040-470f-bb68-2c503c6f2d4a", {}, {}, ["11"]],
             "outputs": {"11": {"images": [{"filename": "rec_progress_00001_.png", "subfolder": "", "type": "output"}]}},
             "status": {"status_str": "success", "completed": true, "messages": [["execution_start", {"prompt_id": "61f37bbd-e040-470f-bb68-2c503c6f2d4a", "timestamp": 1795333462045}], ["execution_cached", {"nodes": [], "prompt_id": "61f37bbd-e040-470f-bb68-2c503c6f2d4a", "timestamp": 1795333462045}], ["execution_success", {"prompt_id": "61f37bbd-e040-470f-bb68-2c503c6f2d4a", "timestamp": 1795333463050}]]},
             "meta": {"11": {"node_id": "11", "display_node": "11", "parent_node": null, "real_node_id": "11"}}}}
            """);

        // Act
        var entry = ComfyResponses.ParseHistory(body, "61f37bbd-e040-470f-bb68-2c503c6f2d4a", Node);

        // Assert
        Assert.NotNull(entry);
        Assert.Equal(ComfyOutcome.Succeeded, entry.Outcome);
        var output = Assert.Single(entry.Outputs);
        Assert.Equal("images", output.Kind);
        Assert.Equal("11", output.NodeId);
        Assert.Equal("rec_progress_00001_.png", output.Filename);
        Assert.Equal("", output.Subfolder);
        Assert.Equal("output", output.Type);
        Assert.Equal("http://10.0.0.5:8188/view?filename=rec_progress_00001_.png&subfolder=&type=output", output.Url);
    }

    [Fact]
    public void HistoryOfAFailedPromptNamesTheNodeAndException()
    {
        // Arrange: node_failure.jsonl (traceback shortened)
        var body = JsonNode.Parse("""
            {"c6eb13ce-c276-44ce-bbdd-b3be1d8be9c5": {"prompt": [7, "c6eb13ce-c276-44ce-bbdd-b3be1d8be9c5", {}, {}, ["31"]], "outputs": {},
             "status": {"status_str": "error", "completed": false, "messages": [["execution_start", {"prompt_id": "c6eb13ce-c276-44ce-bbdd-b3be1d8be9c5", "timestamp": 1795333464807}], ["execution_cached", {"nodes": [], "prompt_id": "c6eb13ce-c276-44ce-bbdd-b3be1d8be9c5", "timestamp": 1795333464807}],
             ["execution_error", {"prompt_id": "c6eb13ce-c276-44ce-bbdd-b3be1d8be9c5", "node_id": "30", "node_type": "TestProgressImage", "executed": [], "exception_message": "TestProgressImage: deliberate failure at step 3 of 6 (seed=99)\n", "exception_type": "RuntimeError", "traceback": ["  File \"<comfyui>/execution.py\", line 496, in execute\n"], "current_inputs": {"steps": [6]}, "current_outputs": ["30", "31"], "timestamp": 1795333464960}]]}, "meta": {}}}
            """);

        // Act
        var entry = ComfyResponses.ParseHistory(body, "c6eb13ce-c276-44ce-bbdd-b3be1d8be9c5", Node);

        // Assert
        Assert.NotNull(entry);
        Assert.Equal(ComfyOutcome.Failed, entry.Outcome);
        Assert.Equal("RuntimeError", entry.ErrorType);
        Assert.Equal("TestProgressImage: deliberate failure at step 3 of 6 (seed=99)", entry.Error);
        Assert.Equal("30", entry.Node);
        Assert.Equal("TestProgressImage", entry.NodeClass);
        Assert.Empty(entry.Outputs);
    }

    [Fact]
    public void HistoryOfAnInterruptedPromptSaysInterrupted()
    {
        // Arrange: interrupt.jsonl
        var body = JsonNode.Parse("""
            {"e5ac0aea-234c-4317-9017-f0464d8f7258": {"prompt": [5, "e5ac0aea-234c-4317-9017-f0464d8f7258", {}, {}, ["21"]], "outputs": {},
             "status": {"status_str": "error", "completed": false, "messages": [["execution_start", {"prompt_id": "e5ac0aea-234c-4317-9017-f0464d8f7258", "timestamp": 1795333463484}], ["execution_cached", {"nodes": [], "prompt_id": "e5ac0aea-234c-4317-9017-f0464d8f7258", "timestamp": 1795333463484}], ["execution_interrupted", {"prompt_id": "e5ac0aea-234c-4317-9017-f0464d8f7258", "node_id": "20", "node_type": "TestProgressImage", "executed": [], "timestamp": 1795333463836}]]}, "meta": {}}}
            """);

        // Act
        var entry = ComfyResponses.ParseHistory(body, "e5ac0aea-234c-4317-9017-f0464d8f7258", Node);

        // Assert
        Assert.NotNull(entry);
        Assert.Equal(ComfyOutcome.Interrupted, entry.Outcome);
        Assert.Equal("20", entry.Node);
        Assert.Equal("TestProgressImage", entry.NodeClass);
    }

    [Fact]
    public void EmptyHistoryMeansNotFinished()
    {
        // Arrange: ComfyUI answers {} while queued or running, for unknown ids and after a restart
        var body = JsonNode.Parse("{}");

        // Act
        var entry = ComfyResponses.ParseHistory(body, "3f8a1d52-7f0e-4a53-9b0c-0d1c2e3f4a5b", Node);

        // Assert
        Assert.Null(entry);
    }

    [Fact]
    public void EveryOutputKindIsCollectedAndWindowsSubfoldersAreNormalised()
    {
        // Arrange: preview_and_ws_binary.jsonl outputs, plus gifs, audio and a Windows subfolder
        var outputs = JsonNode.Parse("""
            {"63": {"text": ["hello from TestProgressInfo"]},
             "61": {"images": [{"filename": "ComfyUI_temp_piybk_00001_.png", "subfolder": "", "type": "temp"}, {"filename": "ComfyUI_temp_piybk_00002_.png", "subfolder": "", "type": "temp"}]},
             "70": {"gifs": [{"filename": "clip 1.mp4", "subfolder": "shots\\sq010", "type": "output", "format": "video/h264-mp4"}], "animated": [true]},
             "71": {"audio": [{"filename": "take.flac", "subfolder": "audio", "type": "output"}]}}
            """)!.AsObject();

        // Act
        var parsed = ComfyResponses.ParseOutputs(outputs, Node);

        // Assert
        Assert.Equal(5, parsed.Count);
        Assert.Contains(parsed, o => o is { Kind: "text", NodeId: "63", Text: "hello from TestProgressInfo" });
        Assert.Equal(2, parsed.Count(o => o is { Kind: "images", Type: "temp" }));
        var video = Assert.Single(parsed, o => o.Kind == "gifs");
        Assert.Equal("shots/sq010", video.Subfolder);
        Assert.Equal("http://10.0.0.5:8188/view?filename=clip%201.mp4&subfolder=shots%5Csq010&type=output", video.Url);
        Assert.Contains(parsed, o => o is { Kind: "audio", Filename: "take.flac", Subfolder: "audio" });
    }

    [Fact]
    public void ValueBelowMinimumNamesNodeClassAndInput()
    {
        // Arrange: invalid_workflow.jsonl, width 0
        var body = JsonNode.Parse("""
            {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
             "node_errors": {"1": {"errors": [{"type": "value_smaller_than_min", "message": "Value 0 smaller than min of 1", "details": "width", "extra_info": {"input_name": "width", "input_config": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}], "received_value": 0}}], "dependent_outputs": ["2"], "class_type": "EmptyImage"}}}
            """);

        // Act
        var result = ComfyResponses.ParsePostResponse(400, body, "a2b4c6d8-0000-4000-8000-000000000001");

        // Assert
        var rejected = Assert.IsType<ComfyPromptRejected>(result);
        Assert.Equal("Prompt outputs failed validation: Node 1 (EmptyImage): input 'width' Value 0 smaller than min of 1", rejected.Message);
        Assert.Equal("prompt_outputs_failed_validation", rejected.ComfyErrorType);
    }

    [Fact]
    public void UnknownClassIsExplainedWithItsNode()
    {
        // Arrange: invalid_workflow.jsonl, NoSuchNode
        var body = JsonNode.Parse("""
            {"error": {"type": "invalid_prompt", "message": "Cannot execute because node NoSuchNode does not exist.", "details": "Node ID '#1'", "extra_info": {}}, "node_errors": {}}
            """);

        // Act
        var rejected = Assert.IsType<ComfyPromptRejected>(ComfyResponses.ParsePostResponse(400, body, "x"));

        // Assert
        Assert.Equal("Cannot execute because node NoSuchNode does not exist. (Node ID '#1')", rejected.Message);
    }

    [Fact]
    public void TypeErrorsKeepTheirDetails()
    {
        // Arrange: invalid_workflow.jsonl, width "abc"
        var body = JsonNode.Parse("""
            {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
             "node_errors": {"1": {"errors": [{"type": "invalid_input_type", "message": "Failed to convert an input value to a INT value", "details": "width, abc, invalid literal for int() with base 10: 'abc'", "extra_info": {"input_name": "width", "received_value": "abc"}}], "dependent_outputs": ["2"], "class_type": "EmptyImage"}}}
            """);

        // Act
        var rejected = Assert.IsType<ComfyPromptRejected>(ComfyResponses.ParsePostResponse(400, body, "x"));

        // Assert
        Assert.Contains("Node 1 (EmptyImage): input 'width' Failed to convert an input value to a INT value (width, abc, invalid literal for int() with base 10: 'abc')", rejected.Message);
    }

    [Fact]
    public void AcceptedPromptWithNodeErrorsReportsTheDroppedOutputs()
    {
        // Arrange: invalid_workflow.jsonl, the partially valid prompt (HTTP 200)
        var body = JsonNode.Parse("""
            {"prompt_id": "dd9df57b-b7a8-4459-9a45-cb2f2317e11d", "number": 17,
             "node_errors": {"2": {"errors": [{"type": "return_type_mismatch", "message": "Return type mismatch between linked nodes", "details": "images, received_type(STRING) mismatch input_type(IMAGE)", "extra_info": {"input_name": "images", "received_type": "STRING", "linked_node": ["1", 0]}}], "dependent_outputs": ["2"], "class_type": "SaveImage"}}}
            """);

        // Act
        var accepted = Assert.IsType<ComfyPromptAccepted>(ComfyResponses.ParsePostResponse(200, body, "dd9df57b-b7a8-4459-9a45-cb2f2317e11d"));

        // Assert
        Assert.Equal("dd9df57b-b7a8-4459-9a45-cb2f2317e11d", accepted.PromptId);
        Assert.Equal(17, accepted.Number);
        Assert.NotNull(accepted.DroppedOutputs);
        Assert.Contains("Node 2 (SaveImage): input 'images' Return type mismatch between linked nodes", accepted.DroppedOutputs);
    }

    [Fact]
    public void AcceptedPromptWithoutNodeErrorsHasNoError()
    {
        // Arrange: progress_success.jsonl
        var body = JsonNode.Parse("""{"prompt_id": "61f37bbd-e040-470f-bb68-2c503c6f2d4a", "number": 4, "node_errors": {}}""");

        // Act
        var accepted = Assert.IsType<ComfyPromptAccepted>(ComfyResponses.ParsePostResponse(200, body, "61f37bbd-e040-470f-bb68-2c503c6f2d4a"));

        // Assert
        Assert.Null(accepted.DroppedOutputs);
    }

    [Fact]
    public void QueueListsRunningAndPendingIds()
    {
        // Arrange: queue_ops.jsonl (prompts and extra_data emptied)
        var body = JsonNode.Parse("""
            {"queue_running": [[18, "333401b3-f458-4daa-9d05-2e1305c247fc", {}, {}, ["41"]]],
             "queue_pending": [[19, "fcdbb890-f0cc-4bec-a00b-752247bc9d5c", {}, {}, ["41"]], [20, "c41e9039-cf46-4ff7-8aa7-35feff1d9914", {}, {}, ["41"]]]}
            """);

        // Act
        var queue = ComfyResponses.ParseQueue(body);

        // Assert
        Assert.Equal(["333401b3-f458-4daa-9d05-2e1305c247fc"], queue.Running);
        Assert.Equal(["fcdbb890-f0cc-4bec-a00b-752247bc9d5c", "c41e9039-cf46-4ff7-8aa7-35feff1d9914"], queue.Pending);
        Assert.True(queue.Contains("c41e9039-cf46-4ff7-8aa7-35feff1d9914"));
        Assert.False(queue.Contains("00000000-0000-0000-0000-000000000000"));
    }
}
