namespace DirectorsConsole.RenderAgent;

/// <summary>
/// Whether the orchestrator knows this agent now. Polls, uploads and results wait for it; a 404 on a worker route or
/// an orchestrator that stopped answering clears it, and the heartbeat loop registers again (so a restarted
/// orchestrator hears the registration and the held tasks before any pending result).
/// </summary>
public sealed class Registration
{
    private readonly object _gate = new();
    private TaskCompletionSource<RegistrationReply> _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsRegistered => _registered.Task.IsCompletedSuccessfully;

    /// <summary>The reply of the last registration, once there is one.</summary>
    public Task<RegistrationReply> WaitAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return _registered.Task.WaitAsync(cancellationToken);
        }
    }

    public void Registered(RegistrationReply reply)
    {
        lock (_gate)
        {
            if (!_registered.TrySetResult(reply))
            {
                _registered = new TaskCompletionSource<RegistrationReply>(TaskCreationOptions.RunContinuationsAsynchronously);
                _registered.SetResult(reply);
            }
        }
    }

    /// <summary>The orchestrator lost this agent (or went away): register again before anything else.</summary>
    public void Lost()
    {
        lock (_gate)
        {
            if (_registered.Task.IsCompleted)
            {
                _registered = new TaskCompletionSource<RegistrationReply>(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }
}
