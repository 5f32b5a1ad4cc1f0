using DirectorsConsole.ComfyEmulator.Queue;
using DirectorsConsole.ComfyEmulator.Realtime;

namespace DirectorsConsole.ComfyEmulator.Execution;

/// <summary>
/// ComfyUI's <c>prompt_worker</c> thread: takes one prompt at a time, runs it, writes the history entry (which
/// broadcasts <c>status</c>) and then tells the client the run is over with <c>executing</c> and <c>node: null</c>.
/// </summary>
public sealed class PromptWorker(PromptQueue queue, PromptExecutor executor, ClientHub hub, ILogger<PromptWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            RunningPrompt? run = null;
            try
            {
                run = await queue.TakeAsync(stoppingToken);
                var outcome = await executor.ExecuteAsync(run, stoppingToken);
                if (outcome is null) continue;
                var entry = new HistoryEntry(run.Item, outcome.Outputs, outcome.Success ? "success" : "error", outcome.Success, outcome.Messages, outcome.Meta);
                if (queue.TaskDone(run, entry) && run.Item.ClientId is { } clientId && !run.IsAbandoned)
                {
                    hub.Send(new ExecutionOverMessage(run.Item.PromptId), clientId);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                logger.LogError(e, "The prompt worker failed on prompt {PromptId}", run?.Item.PromptId);
                // Never leave a prompt "running" forever: record it as failed so the queue moves on.
                if (run is not null) queue.TaskDone(run, new HistoryEntry(run.Item, [], "error", false, [], []));
            }
            finally
            {
                run?.Dispose();
            }
        }
    }
}
