using System.Globalization;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Imaging;
using DirectorsConsole.ComfyEmulator.Json;

namespace DirectorsConsole.ComfyEmulator.Nodes;

/// <summary>
/// The <c>test_progress</c> custom node the transcripts were recorded with, so the same workflow runs here and on a
/// real ComfyUI: sleeps <c>delay_ms</c> per step (interruptible), reports progress per step and outputs a solid
/// image in the seed's colour; with <c>fail</c> it raises a RuntimeError at <c>fail_at_step</c> (-1 = steps // 2).
/// </summary>
public sealed class TestProgressImageNode : IEmulatedNode
{
    /// <summary>The traceback the real node's failure produced (node_failure.jsonl).</summary>
    private static readonly string[] FailureTraceback =
    [
        "  File \"<comfyui>/execution.py\", line 496, in execute\n    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n                                                              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
        "  File \"<comfyui>/execution.py\", line 315, in get_output_data\n    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
        "  File \"<comfyui>/execution.py\", line 289, in _async_map_node_over_list\n    await process_inputs(input_dict, i)\n",
        "  File \"<comfyui>/execution.py\", line 277, in process_inputs\n    result = f(**inputs)\n             ^^^^^^^^^^^\n",
        "  File \"<comfyui>/custom_nodes/test_progress/__init__.py\", line 60, in run\n    raise RuntimeError(\n",
    ];

    public static IReadOnlyList<string> NodeFailureTraceback => FailureTraceback;

    public string ClassType => "TestProgressImage";

    public async Task<NodeOutput> ExecuteAsync(NodeInvocation invocation)
    {
        var steps = invocation.Int("steps", 10);
        var delay = TimeSpan.FromMilliseconds(invocation.Int("delay_ms", 100));
        var seed = invocation.Seed("seed");
        var fail = invocation.Flag("fail", false);
        var failAtStep = invocation.Int("fail_at_step", -1);
        var failAt = Math.Clamp(failAtStep < 0 ? steps / 2 : failAtStep, 0, steps);
        if (fail && failAt == 0) throw Failure(0, steps, seed);

        for (var step = 0L; step < steps; step++)
        {
            await invocation.SleepAsync(delay);
            await invocation.ReportProgressAsync(step + 1, steps);
            if (fail && step + 1 == failAt) throw Failure(step + 1, steps, seed);
        }

        var colour = SeedColour.For(seed);
        var batch = (int)invocation.Int("batch_size", 1);
        return new NodeOutput([new ImageBatch((int)invocation.Int("width", 64), (int)invocation.Int("height", 64), [.. Enumerable.Repeat(colour, batch)])]);
    }

    private static PythonException Failure(long step, long steps, decimal seed) =>
        new("RuntimeError", string.Create(CultureInfo.InvariantCulture, $"TestProgressImage: deliberate failure at step {step} of {steps} (seed={seed})"), FailureTraceback);
}

/// <summary>The test_progress OUTPUT_NODE that shows a non-image <c>executed</c> output: <c>{"text": [text]}</c>.</summary>
public sealed class TestProgressInfoNode : IEmulatedNode
{
    public string ClassType => "TestProgressInfo";

    public Task<NodeOutput> ExecuteAsync(NodeInvocation invocation)
    {
        var text = invocation.Text("text", "hello");
        return Task.FromResult(new NodeOutput([text], new JsonObject { ["text"] = new JsonArray(text) }));
    }
}
