using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Control;
using DirectorsConsole.ComfyEmulator.Execution;
using DirectorsConsole.ComfyEmulator.Queue;
using DirectorsConsole.ComfyEmulator.Realtime;
using DirectorsConsole.ComfyEmulator.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DirectorsConsole.ComfyEmulator.Api;

public sealed record DroppedSockets(int Dropped);

public sealed record ControlError(string Detail);

/// <summary>A message a custom node would push to every socket, such as a resource monitor's
/// <c>crystools.monitor</c> or <c>kaytool.resources</c>.</summary>
public sealed record BroadcastRequest(string? Type, JsonObject? Data);

public sealed record BroadcastMessage(string Type, JsonObject Payload) : IComfyMessage
{
    public JsonObject Data() => (JsonObject)Payload.DeepClone();
}

/// <summary>
/// The emulator's own control surface under <c>/_emulator</c>, a prefix ComfyUI never uses (and not repeated
/// under <c>/api</c>), so a ComfyUI client cannot reach it by accident. Bodies are snake_case JSON.
/// </summary>
public static class EmulatorControlApi
{
    public static WebApplication MapEmulatorControlApi(this WebApplication app)
    {
        var control = app.MapGroup("/_emulator");
        control.MapGet("/config", GetConfig);
        control.MapPost("/config", PostConfig);
        control.MapPost("/stall", Stall);
        control.MapPost("/unstall", Unstall);
        control.MapPost("/drop-sockets", DropSockets);
        control.MapPost("/restart", Restart);
        control.MapPost("/partition", Partition);
        control.MapPost("/heal", Heal);
        control.MapPost("/broadcast", Broadcast);
        return app;
    }

    public static Ok<EmulatorSettings> GetConfig(EmulatorKnobs knobs) => TypedResults.Ok(knobs.Current);

    public static Results<Ok<EmulatorSettings>, BadRequest<ControlError>> PostConfig(EmulatorSettingsChange change, EmulatorKnobs knobs) =>
        knobs.TryApply(change) is { } problem ? TypedResults.BadRequest(new ControlError(problem)) : TypedResults.Ok(knobs.Current);

    /// <summary>Prompts are still accepted and started, but each waits at its next node or step until un-stalled.</summary>
    public static Ok<EmulatorSettings> Stall(EmulatorKnobs knobs)
    {
        knobs.Stall();
        return TypedResults.Ok(knobs.Current);
    }

    public static Ok<EmulatorSettings> Unstall(EmulatorKnobs knobs)
    {
        knobs.Unstall();
        return TypedResults.Ok(knobs.Current);
    }

    /// <summary>Aborts every WebSocket without a close handshake, like a network failure.</summary>
    public static Ok<DroppedSockets> DropSockets(ClientHub hub) => TypedResults.Ok(new DroppedSockets(hub.DropAll()));

    /// <summary>Cuts the node off: every ComfyUI route drops its connection and every socket is dropped, while the
    /// queue and the running prompt stay as they are (a network failure, not a restart).</summary>
    public static Ok<DroppedSockets> Partition(EmulatorKnobs knobs, ClientHub hub)
    {
        knobs.Unreachable = true;
        return TypedResults.Ok(new DroppedSockets(hub.DropAll()));
    }

    public static NoContent Heal(EmulatorKnobs knobs)
    {
        knobs.Unreachable = false;
        return TypedResults.NoContent();
    }

    /// <summary>Sends <c>{"type", "data"}</c> to every socket, as an extension's <c>send_sync(type, data)</c> does.</summary>
    public static Results<NoContent, BadRequest<ControlError>> Broadcast(BroadcastRequest request, ClientHub hub)
    {
        if (string.IsNullOrWhiteSpace(request.Type) || request.Data is null)
        {
            return TypedResults.BadRequest(new ControlError("type (a string) and data (an object) are required."));
        }

        hub.Send(new BroadcastMessage(request.Type, request.Data), sid: null);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Behaves as if ComfyUI were restarted: the running prompt vanishes without another message or a history entry,
    /// the queue, history, cache and prompt counter are reset, the temp folder is emptied and every socket is dropped.
    /// Output files stay, as they do on disk; new files continue their counters.
    /// </summary>
    public static NoContent Restart(PromptQueue queue, OutputCache cache, ClientHub hub, ComfyFolders folders)
    {
        queue.Restart();
        cache.Clear();
        hub.DropAll();
        folders.ClearTemp();
        return TypedResults.NoContent();
    }
}
