using Microsoft.Extensions.Options;

namespace DirectorsConsole.ComfyEmulator.Control;

/// <summary>A snapshot of the knobs a test can turn while the emulator runs.</summary>
public sealed record EmulatorSettings(int StepDelayMs, string FailAtNode, bool Stalled, string GpuName, double VramGb, string Os);

/// <summary>A partial change to <see cref="EmulatorSettings"/>; absent fields keep their value, <c>"fail_at_node": ""</c> clears it.</summary>
public sealed record EmulatorSettingsChange(int? StepDelayMs, string? FailAtNode, bool? Stalled, string? GpuName, double? VramGb, string? Os);

/// <summary>
/// The runtime knobs: they start from <see cref="EmulatorOptions"/> and <c>POST /_emulator/config</c> changes them.
/// Stalling holds every running prompt at its next node or step until un-stalled.
/// </summary>
public sealed class EmulatorKnobs
{
    private readonly Lock gate = new();
    private EmulatorSettings settings;
    private TaskCompletionSource unstalled = NewSignal();

    public EmulatorKnobs(IOptions<EmulatorOptions> options)
    {
        var o = options.Value;
        settings = new EmulatorSettings(o.StepDelayMs, o.FailAtNode, false, o.GpuName, o.VramGb, o.Os);
        if (o.Stalled) Stall();
    }

    public EmulatorSettings Current
    {
        get { lock (gate) return settings; }
    }

    public bool IsNt => Current.Os == "nt";

    /// <summary>While set, every ComfyUI route drops its connection unanswered (the control routes still answer), as
    /// a node cut off by the network does: it keeps its queue, and whatever it runs goes on.</summary>
    public bool Unreachable
    {
        get => Volatile.Read(ref unreachable);
        set => Volatile.Write(ref unreachable, value);
    }

    private bool unreachable;

    /// <summary>Applies a change, or returns why it is invalid (nothing is changed then).</summary>
    public string? TryApply(EmulatorSettingsChange change)
    {
        if (change.StepDelayMs is < 0 or > 600_000) return "step_delay_ms must be between 0 and 600000.";
        if (change.VramGb is < 0 or > 4096) return "vram_gb must be between 0 and 4096.";
        if (change.Os is not (null or "posix" or "nt")) return "os must be posix or nt.";
        lock (gate)
        {
            settings = settings with
            {
                StepDelayMs = change.StepDelayMs ?? settings.StepDelayMs,
                FailAtNode = change.FailAtNode?.Trim() ?? settings.FailAtNode,
                GpuName = change.GpuName ?? settings.GpuName,
                VramGb = change.VramGb ?? settings.VramGb,
                Os = change.Os ?? settings.Os,
            };
        }
        if (change.Stalled == true) Stall();
        if (change.Stalled == false) Unstall();
        return null;
    }

    public void Stall()
    {
        lock (gate)
        {
            if (settings.Stalled) return;
            settings = settings with { Stalled = true };
            unstalled = NewSignal();
        }
    }

    public void Unstall()
    {
        TaskCompletionSource released;
        lock (gate)
        {
            settings = settings with { Stalled = false };
            released = unstalled;
        }
        released.TrySetResult();
    }

    /// <summary>Returns at once unless stalled; otherwise waits for <see cref="Unstall"/> (or cancellation, e.g. an interrupt).</summary>
    public Task WaitWhileStalledAsync(CancellationToken cancellationToken)
    {
        Task signal;
        lock (gate)
        {
            if (!settings.Stalled) return Task.CompletedTask;
            signal = unstalled.Task;
        }
        return signal.WaitAsync(cancellationToken);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
