using System.Diagnostics;
using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Tests;

public sealed class ProcessSessionTests
{
    [Fact]
    public async Task WrappedChildKeepsItsPidAndHasASessionOfItsOwn()
    {
        Assert.SkipUnless(ProcessSession.Launcher is not null, "setsid exists only on Linux");

        // Arrange
        var (program, arguments) = ProcessSession.Wrap("sleep", ["30"]);
        var info = new ProcessStartInfo(program) { UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var child = Process.Start(info)!;
        try
        {
            // Act: setsid has exec'd sleep once the command line says so
            var commandLine = "";
            for (var i = 0; i < 50 && !commandLine.Contains("sleep 30", StringComparison.Ordinal); i++)
            {
                await Task.Delay(20, TestContext.Current.CancellationToken);
                commandLine = File.ReadAllText($"/proc/{child.Id}/cmdline").Replace('\0', ' ');
            }

            // Assert
            Assert.EndsWith("sleep 30 ", commandLine);
            Assert.DoesNotContain("setsid", commandLine);
            Assert.NotEqual(SessionOf(Environment.ProcessId), SessionOf(child.Id));
            Assert.Equal(child.Id, SessionOf(child.Id));
        }
        finally
        {
            child.Kill();
        }
    }

    [Fact]
    public void MissingProgramFailsAtStartNotAsAnExitCode()
    {
        Assert.SkipUnless(ProcessSession.Launcher is not null, "setsid exists only on Linux");

        // Act
        var error = Assert.Throws<FileNotFoundException>(() => ProcessSession.Wrap("no-such-program-dc", []));

        // Assert
        Assert.Contains("no-such-program-dc", error.Message);
    }

    // /proc/<pid>/stat: "pid (comm) state ppid pgrp session ..."; comm may hold spaces, so read after ')'.
    private static int SessionOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[3], System.Globalization.CultureInfo.InvariantCulture);
    }
}
