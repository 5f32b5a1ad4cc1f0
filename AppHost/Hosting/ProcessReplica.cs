using System.ComponentModel;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Runs one replica of an <see cref="ExecutableResource"/>: starts it, checks its health, restarts it with
/// back-off when it exits, and stops it on request. Its output goes to <c>{log_dir}/apphost/{name}-{i}.out</c>,
/// the last lines also to <see cref="ReplicaStatus"/> for error messages.
/// </summary>
internal sealed class ProcessReplica(
    ExecutableResource resource,
    ReplicaStatus status,
    IReadOnlyDictionary<string, string> environment,
    string outputFile,
    ILogger logger,
    TimeProvider time)
{
    private static readonly TimeSpan BeforeStopTimeout = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private readonly RestartBackoff _backoff = new();
    private Process? _process;
    private StreamWriter? _output;

    public ReplicaStatus Status { get; } = status;

    public string OutputFile { get; } = outputFile;

    /// <summary>Runs until <paramref name="stopping"/> is cancelled; the process is then left to <see cref="StopAsync"/>.
    /// Never throws: a fault in the supervision itself is logged and shown as <see cref="ResourceState.Failed"/>,
    /// because a supervisor that ended silently would leave a crashed service down for good.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            await SuperviseUntilStoppedAsync(stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopping.
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Supervising {Replica} failed; it is no longer restarted", Status.Name);
            Status.Set(ResourceState.Failed, null, $"supervision failed: {ex.Message}");
        }
    }

    private async Task SuperviseUntilStoppedAsync(CancellationToken stopping)
    {
        var port = resource.Ports[Status.Index];
        var endpoint = resource.Endpoints[Status.Index];
        var output = new StreamWriter(OutputFile, append: true) { AutoFlush = true };
        lock (_gate)
        {
            _output = output;
        }

        while (!stopping.IsCancellationRequested)
        {
            Process process;
            lock (_gate)
            {
                if (stopping.IsCancellationRequested)
                {
                    return;
                }

                try
                {
                    process = Start(resource.Arguments(port), output);
                }
                catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException)
                {
                    logger.LogError("{Replica} could not be started ({Command}): {Reason}", Status.Name, resource.Command, ex.Message);
                    Status.Set(ResourceState.Failed, null, $"could not start '{resource.Command}': {ex.Message}");
                    return;
                }

                _process = process;
            }

            var exitCode = await SuperviseAsync(process, endpoint, stopping);
            if (exitCode is null)
            {
                return;
            }

            lock (_gate)
            {
                _process = null;
                process.Dispose();
            }

            var delay = _backoff.NextDelay(Status.HealthyFor);
            var reason = $"exited with code {exitCode}";
            logger.LogWarning("{Replica} {Reason}; restarting in {Delay:0} s", Status.Name, reason, delay.TotalSeconds);
            Status.Set(ResourceState.Restarting, null, reason);
            try
            {
                await Task.Delay(delay, time, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Status.CountRestart();
        }
    }

    /// <summary>SIGTERM, up to <paramref name="grace"/> to exit, then kill the process tree. Call after
    /// cancelling <see cref="RunAsync"/>, so no new process is started meanwhile.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        Process? process;
        StreamWriter? output;
        lock (_gate)
        {
            (process, output, _process, _output) = (_process, _output, null, null);
        }

        if (process is not null)
        {
            await BeforeStopAsync(process);
            if (!await ProcessTermination.StopAsync(process, grace))
            {
                logger.LogWarning("{Replica} did not stop within {Grace:0} s and was killed", Status.Name, grace.TotalSeconds);
            }

            process.Dispose();
        }

        if (output is not null)
        {
            lock (output)
            {
                output.Dispose();
            }
        }

        if (Status.State != ResourceState.Failed)
        {
            Status.Set(ResourceState.Exited, null);
        }
    }

    private async Task BeforeStopAsync(Process process)
    {
        if (resource.BeforeStop is not { } beforeStop || process.HasExited)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(BeforeStopTimeout);
        try
        {
            await beforeStop(resource.Endpoints[Status.Index], timeout.Token);
        }
        catch (Exception ex)
        {
            logger.LogWarning("{Replica}: the step before stopping failed: {Reason}", Status.Name, ex.Message);
        }
    }

    /// <returns>The exit code, or null when the AppHost is stopping.</returns>
    private async Task<int?> SuperviseAsync(Process process, Uri endpoint, CancellationToken stopping)
    {
        using var running = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        Status.Set(resource.HealthProbe is null ? ResourceState.Running : ResourceState.Starting, process.Id);
        var health = resource.HealthProbe is { } probe
            ? HealthMonitor.RunAsync(Status, probe, endpoint, process.Id, ResourceState.Starting, logger, time, running.Token)
            : Task.CompletedTask;
        try
        {
            await process.WaitForExitAsync(stopping);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        finally
        {
            await running.CancelAsync();
            await health;
        }

        return stopping.IsCancellationRequested ? null : process.ExitCode;
    }

    private Process Start(IReadOnlyList<string> arguments, StreamWriter output)
    {
        // setsid execs in place (the child is not a process group leader), so the PID stays the child's.
        var (program, programArguments) = ProcessSession.Wrap(resource.Command, arguments);
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = resource.WorkingDirectory,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // Children must not read the AppHost's terminal; they get an empty pipe that stays open.
            RedirectStandardInput = true,
        };
        foreach (var argument in programArguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Capture(output, e.Data);
        process.ErrorDataReceived += (_, e) => Capture(output, e.Data);
        Capture(output, $"--- {time.GetUtcNow():O} {Status.Name}: {resource.Command} {string.Join(' ', arguments)}");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void Capture(StreamWriter output, string? line)
    {
        if (line is null)
        {
            return;
        }

        Status.AddOutput(line);
        lock (output)
        {
            try
            {
                output.WriteLine(line);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // The log file is gone or closed (the AppHost is stopping); the in-memory tail still has the line.
            }
        }
    }
}
