using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace DirectorsConsole.Testing;

/// <summary>
/// A server the tests run as a real process on a loopback port chosen up front (kept across restarts, as a restarted
/// server looks to its clients). Starting waits until <see cref="AnswersAsync"/> holds; the process is killed on
/// dispose, and at process exit as a last resort, so a failed test run leaves no server behind.
/// </summary>
public abstract class TestServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly ConcurrentDictionary<TestServerProcess, byte> Running = new();
    private const int OutputKept = 64 * 1024;

    private readonly string _fileName;
    private readonly IReadOnlyList<string> _arguments;
    private readonly StringBuilder _output = new();
    private Process? _process;

    static TestServerProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var server in Running.Keys)
            {
                server.KillNow();
            }
        };
    }

    protected TestServerProcess(int port, string fileName, IReadOnlyList<string> arguments)
    {
        Port = port;
        _fileName = fileName;
        _arguments = arguments;
    }

    public int Port { get; }

    public int? ProcessId => _process?.Id;

    /// <summary>What the server printed so far (bounded, for error messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Names the server in error messages.</summary>
    protected abstract string Description { get; }

    /// <summary>True once the server serves requests; false (not an exception) while it is not listening yet.</summary>
    protected abstract Task<bool> AnswersAsync(CancellationToken cancellationToken);

    protected virtual void ConfigureStart(ProcessStartInfo startInfo)
    {
    }

    /// <summary>Kills the server and every process it started (as a crashed or unplugged machine).</summary>
    public async Task KillAsync()
    {
        var process = _process;
        if (process is null)
        {
            return;
        }

        KillNow();
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        process.Dispose();
        _process = null;
        Running.TryRemove(this, out _);
    }

    /// <summary>Stops the server if it runs and starts it again on the same port.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await KillAsync().ConfigureAwait(false);
        await StartProcessAsync(cancellationToken).ConfigureAwait(false);
    }

    public virtual async ValueTask DisposeAsync()
    {
        await KillAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    protected async Task StartProcessAsync(CancellationToken cancellationToken)
    {
        // The port of a killed server can take a moment to be released; a second try covers that.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await StartOnceAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && !cancellationToken.IsCancellationRequested)
            {
                await KillAsync().ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task StartOnceAsync(CancellationToken cancellationToken)
    {
        lock (_output)
        {
            _output.Clear();
        }

        var startInfo = new ProcessStartInfo(_fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in _arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        ConfigureStart(startInfo);
        var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        _process = process;
        Running[this] = 0;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                throw new InvalidOperationException(
                    $"{Description} exited with code {process.ExitCode} before answering on port {Port}. Output:\n{Output}");
            }

            if (await AnswersAsync(cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }

        KillNow();
        throw new TimeoutException($"{Description} did not answer on port {Port} within {StartTimeout.TotalSeconds:0} s. Output:\n{Output}");
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length < OutputKept)
            {
                _output.AppendLine(line);
            }
        }
    }

    private void KillNow()
    {
        try
        {
            if (_process is { HasExited: false } process)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It exited between the check and the kill.
        }
    }
}
