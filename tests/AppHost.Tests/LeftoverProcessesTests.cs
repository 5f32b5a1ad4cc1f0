using System.Diagnostics;
using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Tests;

public sealed class LeftoverProcessesTests
{
    [Fact]
    public async Task ADetachedProcessIsFoundByItsSessionVariable()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Processes are found through /proc.");

        // Arrange: a shell starts a sleeper in the background and exits, so the sleeper's parent becomes init,
        // as with Aspire's orchestrator, which detaches itself from the AppHost
        var session = Guid.NewGuid().ToString("N");
        var start = new ProcessStartInfo("/bin/sh", ["-c", "sleep 60 >/dev/null 2>&1 & echo $!"]) { RedirectStandardOutput = true };
        start.Environment[LeftoverProcesses.SessionVariable] = session;
        using var shell = Process.Start(start)!;
        var sleeper = int.Parse((await shell.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken))!);
        await shell.WaitForExitAsync(TestContext.Current.CancellationToken);
        try
        {
            // The forked shell becomes sleep by exec; while the kernel swaps its memory, its environ reads empty.
            await WaitUntilRunningAsync(sleeper, "sleep");

            // Act
            var found = LeftoverProcesses.FindOwnProcesses(Environment.ProcessId, session);
            var foundWithOtherSession = LeftoverProcesses.FindOwnProcesses(Environment.ProcessId, Guid.NewGuid().ToString("N"));

            // Assert
            Assert.Contains(sleeper, found);
            Assert.DoesNotContain(sleeper, foundWithOtherSession);
        }
        finally
        {
            using var process = Process.GetProcessById(sleeper);
            process.Kill();
        }
    }

    [Fact]
    public async Task AProcessMissedOnceWhileItStartsIsStillWaitedFor()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Processes are found through /proc.");

        // Arrange: the run's only process (an id no process has) is seen by no scan but the second one, as one whose
        // environ reads empty while it execs
        var scans = 0;

        // Act
        var killed = await LeftoverProcesses.EndAsync(
            () => ++scans == 2 ? [int.MaxValue] : [],
            TimeProvider.System.GetUtcNow() + TimeSpan.FromSeconds(5),
            TimeProvider.System);

        // Assert: one empty scan does not end the wait
        Assert.Equal(0, killed);
        Assert.Equal(4, scans);
    }

    [Fact]
    public void AChildOfTheHostProcessWithoutTheSessionIsNotTheRunsOwn()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Processes are found through /proc.");

        // Arrange: a process this one started outside the run, as a test process running the AppHost on
        // Aspire.Hosting.Testing starts browsers, emulators or other suites beside it
        using var child = Process.Start(new ProcessStartInfo("sleep", ["60"]))!;
        try
        {
            // Act
            var found = LeftoverProcesses.FindOwnProcesses(Environment.ProcessId, Guid.NewGuid().ToString("N"));

            // Assert
            Assert.DoesNotContain(child.Id, found);
        }
        finally
        {
            child.Kill();
        }
    }

    [Fact]
    public void AnAppHostRunByAnotherProgramDoesNotOwnItsProcess()
    {
        // Arrange: this test host runs the AppHost's code, as Aspire.Hosting.Testing runs its Program

        // Act
        var owns = LeftoverProcesses.AppHostOwnsTheProcess;

        // Assert: no session variable in the shared environment, and no sweep of the host's processes
        Assert.False(owns);
    }

    private static async Task WaitUntilRunningAsync(int pid, string program)
    {
        var cmdline = $"/proc/{pid}/cmdline";
        for (var waited = 0; waited < 100 && !File.ReadAllText(cmdline).StartsWith(program + "\0", StringComparison.Ordinal); waited++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}
