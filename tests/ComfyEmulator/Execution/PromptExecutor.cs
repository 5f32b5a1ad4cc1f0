using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Control;
using DirectorsConsole.ComfyEmulator.Json;
using DirectorsConsole.ComfyEmulator.Nodes;
using DirectorsConsole.ComfyEmulator.Queue;
using DirectorsConsole.ComfyEmulator.Realtime;
using DirectorsConsole.ComfyEmulator.Storage;

namespace DirectorsConsole.ComfyEmulator.Execution;

/// <summary>How a run ended: what goes into its history entry.</summary>
public sealed record ExecutionOutcome(bool Success, JsonObject Outputs, JsonObject Meta, JsonArray Messages);

/// <summary>ComfyUI's <c>PromptExecutor</c>: runs one prompt's nodes and reports them on the sockets.</summary>
public sealed class PromptExecutor(
    NodeCatalog catalog, NodeRegistry nodes, OutputCache cache, ClientHub hub, EmulatorKnobs knobs,
    ComfyFolders folders, TimeProvider time, ILogger<PromptExecutor> logger)
{
    private readonly NodeCatalog catalog = catalog;
    private readonly NodeRegistry nodes = nodes;
    private readonly OutputCache cache = cache;
    private readonly ClientHub hub = hub;
    private readonly EmulatorKnobs knobs = knobs;
    private readonly ComfyFolders folders = folders;
    private readonly TimeProvider time = time;
    private readonly ILogger<PromptExecutor> logger = logger;

    /// <summary>Runs the prompt; null when a restart abandoned it (nothing more may be reported then).</summary>
    public async Task<ExecutionOutcome?> ExecuteAsync(RunningPrompt run, CancellationToken stoppingToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(run.InterruptToken, run.AbandonToken, stoppingToken);
        var execution = new PromptExecution(this, run, stop.Token);
        try
        {
            return await execution.RunAsync();
        }
        catch (OperationCanceledException) when (run.IsAbandoned && !stoppingToken.IsCancellationRequested)
        {
            logger.LogInformation("Prompt {PromptId} was dropped by a restart", run.Item.PromptId);
            return null;
        }
    }

    /// <summary>One run's state: ComfyUI's <c>execute_async</c> locals and <c>status_messages</c>.</summary>
    private sealed class PromptExecution
    {
        private readonly PromptExecutor owner;
        private readonly RunningPrompt run;
        private readonly CancellationToken cancellationToken;
        private readonly string promptId;
        private readonly string? clientId;
        private readonly JsonObject prompt;
        private readonly JsonObject? extraPngInfo;
        private readonly JsonArray messages = [];
        private readonly JsonObject outputs = [];
        private readonly JsonObject meta = [];
        private readonly List<string> executed = [];
        private readonly ProgressRegistry progress;
        private IReadOnlyDictionary<string, string> signatures = new Dictionary<string, string>();

        public PromptExecution(PromptExecutor owner, RunningPrompt run, CancellationToken cancellationToken)
        {
            this.owner = owner;
            this.run = run;
            this.cancellationToken = cancellationToken;
            promptId = run.Item.PromptId;
            clientId = run.Item.ClientId;
            // The run works on its own copy: IS_CHANGED values are written into it (and so into the PNG metadata),
            // but not into the queue or history entry, as in ComfyUI.
            prompt = (JsonObject)run.Item.Prompt.DeepClone();
            extraPngInfo = run.Item.ExtraData["extra_pnginfo"] as JsonObject;
            progress = new ProgressRegistry(promptId, message => Send(message, clientId));
        }

        public async Task<ExecutionOutcome> RunAsync()
        {
            AddMessage(timestamp => new ExecutionStartMessage(promptId, timestamp), broadcast: false);
            foreach (var (_, node) in prompt)
            {
                if (owner.nodes[ClassType(node!.AsObject())].IsChanged(owner.time) is { } isChanged) node["is_changed"] = new JsonArray(isChanged);
            }
            signatures = owner.cache.SetPrompt(prompt);
            var cachedNodes = prompt.Select(p => p.Key).Where(IsCached).ToList();
            AddMessage(timestamp => new ExecutionCachedMessage(cachedNodes, promptId, timestamp), broadcast: false);

            var executionList = new ExecutionList(prompt, owner.catalog, IsCached);
            foreach (var output in run.Item.OutputsToExecute) executionList.AddNode(output);

            var success = true;
            while (!executionList.IsEmpty)
            {
                var nodeId = executionList.Stage()
                    ?? throw new InvalidOperationException("Dependency cycle in a validated prompt.");
                if (await ExecuteNodeAsync(nodeId) is { } failure)
                {
                    ReportFailure(failure);
                    success = false;
                    break;
                }
                executionList.Complete(nodeId);
            }
            if (success) AddMessage(timestamp => new ExecutionSuccessMessage(promptId, timestamp), broadcast: false);
            run.LastNodeId = null;
            return new ExecutionOutcome(success, outputs, meta, messages);
        }

        private sealed record NodeFailure(string NodeId, PythonException? Error, JsonObject CurrentInputs);

        /// <summary>Runs (or replays from the cache) one node; a non-null result stops the prompt.</summary>
        private async Task<NodeFailure?> ExecuteNodeAsync(string nodeId)
        {
            var node = prompt[nodeId]!.AsObject();
            var classType = ClassType(node);
            try
            {
                await owner.knobs.WaitWhileStalledAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (IsInterruptedOnly)
            {
                return new NodeFailure(nodeId, null, []);
            }

            if (owner.cache.Get(signatures[nodeId]) is { } cached)
            {
                if (clientId is not null) Send(new ExecutedMessage(nodeId, nodeId, cached.Ui, promptId), clientId);
                if (cached.Ui is not null) RecordUi(nodeId, cached.Ui);
                progress.Finish(nodeId);
                return null;
            }

            progress.Start(nodeId);
            if (clientId is not null)
            {
                run.LastNodeId = nodeId;
                Send(new ExecutingMessage(nodeId, nodeId, promptId), clientId);
            }
            var (inputs, currentInputs) = ResolveInputs(nodeId, node, classType);
            try
            {
                // ComfyUI checks the interrupt flag before a node runs (pre_execute_cb).
                cancellationToken.ThrowIfCancellationRequested();
                if (owner.knobs.Current.FailAtNode == nodeId) throw DeliberateFailure(nodeId, classType);

                var invocation = new NodeInvocation(nodeId, classType, inputs, prompt, extraPngInfo,
                    new NodeServices(owner.folders, owner.knobs, owner.time),
                    (value, max, preview) => ReportProgressAsync(nodeId, value, max, preview), cancellationToken);
                var result = await owner.nodes[classType].ExecuteAsync(invocation);
                var ui = result.Ui is { Count: > 0 } ? result.Ui : null;
                if (ui is not null)
                {
                    RecordUi(nodeId, ui);
                    if (clientId is not null) Send(new ExecutedMessage(nodeId, nodeId, ui, promptId), clientId);
                }
                owner.cache.Set(signatures[nodeId], new CachedNode(result.Values, ui));
            }
            catch (OperationCanceledException) when (IsInterruptedOnly)
            {
                return new NodeFailure(nodeId, null, currentInputs);
            }
            catch (PythonException error)
            {
                return new NodeFailure(nodeId, error, currentInputs);
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                owner.logger.LogError(error, "Node {NodeId} ({ClassType}) of prompt {PromptId} failed", nodeId, classType, promptId);
                return new NodeFailure(nodeId, new PythonException(error.GetType().Name, error.Message, []), currentInputs);
            }
            progress.Finish(nodeId);
            executed.Add(nodeId);
            return null;
        }

        /// <summary>The ProgressBar hook: interrupt check, state snapshot, <c>progress</c>, then the preview frame.</summary>
        private async Task ReportProgressAsync(string nodeId, long value, long max, byte[]? previewPng)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await owner.knobs.WaitWhileStalledAsync(cancellationToken);
            progress.Update(nodeId, value, max);
            Send(new ProgressMessage(value, max, promptId, nodeId), clientId);
            if (previewPng is not null && !run.IsAbandoned) SendPreview(nodeId, previewPng);
        }

        /// <summary>
        /// Type 4 (with metadata) for a client that announced supports_preview_metadata, else type 1 with the PNG
        /// format code; without a client id the preview goes to every socket.
        /// </summary>
        private void SendPreview(string nodeId, byte[] png)
        {
            if (owner.hub.SupportsPreviewMetadata(clientId))
            {
                var metadata = Encoding.UTF8.GetBytes(PythonJson.Serialize(new JsonObject
                {
                    ["node_id"] = nodeId, ["prompt_id"] = promptId, ["display_node_id"] = nodeId,
                    ["parent_node_id"] = null, ["real_node_id"] = nodeId, ["image_type"] = "image/png",
                }));
                var payload = new byte[4 + metadata.Length + png.Length];
                BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)metadata.Length);
                metadata.CopyTo(payload, 4);
                png.CopyTo(payload, 4 + metadata.Length);
                owner.hub.SendBinary(BinaryEventType.PreviewImageWithMetadata, payload, clientId);
            }
            else
            {
                var payload = new byte[4 + png.Length];
                BinaryPrimitives.WriteUInt32BigEndian(payload, BinaryEventType.ImageFormatPng);
                png.CopyTo(payload, 4);
                owner.hub.SendBinary(BinaryEventType.PreviewImage, payload, clientId);
            }
        }

        /// <summary>
        /// ComfyUI's <c>get_input_data</c>: linked inputs become the upstream outputs, declared widget values pass as
        /// they are, hidden inputs are filled; the second result is the <c>current_inputs</c> an error reports.
        /// </summary>
        private (Dictionary<string, object?> Inputs, JsonObject CurrentInputs) ResolveInputs(string nodeId, JsonObject node, string classType)
        {
            var definition = owner.catalog.Definition(classType)!;
            var declared = definition["input"]!.AsObject();
            var inputs = new Dictionary<string, object?>();
            var currentInputs = new JsonObject();
            foreach (var (name, value) in node["inputs"]!.AsObject())
            {
                if (Links.TryParse(value, out var from, out var slot))
                {
                    var upstream = owner.cache.Get(signatures[from])!.Outputs[slot];
                    inputs[name] = upstream;
                    currentInputs[name] = new JsonArray(upstream?.ToString());
                }
                else if (declared.Any(category => category.Value is JsonObject names && names.ContainsKey(name)))
                {
                    inputs[name] = value;
                    currentInputs[name] = new JsonArray(value?.DeepClone());
                }
            }
            foreach (var (name, kind) in declared["hidden"] as JsonObject ?? new JsonObject())
            {
                JsonNode? hidden = kind?.GetValue<string>() switch
                {
                    "PROMPT" => prompt,
                    "EXTRA_PNGINFO" => extraPngInfo,
                    "UNIQUE_ID" => nodeId,
                    _ => null,
                };
                inputs[name] = hidden;
                currentInputs[name] = new JsonArray(hidden?.DeepClone());
            }
            return (inputs, currentInputs);
        }

        /// <summary>ComfyUI's <c>handle_execution_error</c>: an interrupt goes to everyone, an error only to the client.</summary>
        private void ReportFailure(NodeFailure failure)
        {
            var nodeType = ClassType(prompt[failure.NodeId]!.AsObject());
            if (failure.Error is null)
            {
                AddMessage(timestamp => new ExecutionInterruptedMessage(promptId, failure.NodeId, nodeType, [.. executed], timestamp), broadcast: true);
                return;
            }
            AddMessage(timestamp => new ExecutionErrorMessage(promptId, failure.NodeId, nodeType, [.. executed],
                failure.Error.Message + "\n", failure.Error.PythonType, failure.Error.PythonTraceback, failure.CurrentInputs,
                [.. prompt.Select(p => p.Key)], timestamp), broadcast: false);
        }

        private static PythonException DeliberateFailure(string nodeId, string classType) => new("RuntimeError",
            $"ComfyEmulator: deliberate failure at node {nodeId} ({classType})",
            [
                "  File \"<comfyui>/execution.py\", line 496, in execute\n    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n",
                "  File \"<comfyui>/execution.py\", line 315, in get_output_data\n    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n",
                "  File \"<comfyui>/execution.py\", line 277, in process_inputs\n    result = f(**inputs)\n             ^^^^^^^^^^^\n",
            ]);

        private void RecordUi(string nodeId, JsonObject ui)
        {
            outputs[nodeId] = ui.DeepClone();
            meta[nodeId] = new JsonObject { ["node_id"] = nodeId, ["display_node"] = nodeId, ["parent_node"] = null, ["real_node_id"] = nodeId };
        }

        /// <summary>ComfyUI's <c>add_message</c>: stamped, kept for the history, sent when there is a client (or always when broadcast).</summary>
        private void AddMessage(Func<long, IComfyMessage> create, bool broadcast)
        {
            var message = create(owner.time.GetUtcNow().ToUnixTimeMilliseconds());
            messages.Add(new JsonArray(message.Type, message.Data()));
            if (clientId is not null || broadcast) Send(message, clientId);
        }

        private void Send(IComfyMessage message, string? sid)
        {
            if (!run.IsAbandoned) owner.hub.Send(message, sid);
        }

        private bool IsCached(string nodeId) => owner.cache.Get(signatures[nodeId]) is not null;

        private bool IsInterruptedOnly => run.IsInterrupted && !run.IsAbandoned;

        private static string ClassType(JsonObject node) => node["class_type"]!.GetValue<string>();
    }
}
