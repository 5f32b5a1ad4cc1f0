using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>An AppHost killed with SIGKILL cannot stop anything itself: every process it started must end on its own.
/// The AppHost runs as a process of its own (killing the test process instead is not an option).
/// In the suite's collection, so it does not run beside the shared suite on a 2-core machine.</summary>
[Collection(nameof(SuiteCollection))]
public sealed class AppHostKillTests
{
    private static readonly TimeSpan GoneWithin = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task EveryProcessTheAppHostStartedIsGoneWithinThirtySecondsOfAKill9()
    {
        // Arrange: the whole suite, with Garnet and two emulated render nodes
        var ct = TestContext.Current.CancellationToken;
        var workingDirectory = Directory.CreateTempSubdirectory("dc-kill-").FullName;
        try
        {
            await using var suite = new SuiteProcess(workingDirectory);
            await suite.StartAsync(ct);
            var started = suite.FindSuiteProcesses();

            // Act
            SuiteProcess.Kill(suite.AppHostPid!.Value);
            var killedAt = DateTime.UtcNow;
            var left = await Eventually.ReturnsAsync(
                () => Task.FromResult(started.Where(p => SuiteProcess.IsRunning(p.Pid)).ToList()), running => running.Count == 0, GoneWithin);
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"{started.Count} processes; {left.Count} left {(DateTime.UtcNow - killedAt).TotalSeconds:0.0} s after the AppHost was killed");

            // Assert
            Assert.Contains(started, p => SuiteProcess.Runs(p.CommandLine, "GarnetServer"));
            Assert.Equal(2, started.Count(p => SuiteProcess.Runs(p.CommandLine, "ComfyEmulator")));
            Assert.All(
                ["Gateway", "JobService", "BackendService", "GalleryService", "PathService"],
                service => Assert.Contains(started, p => SuiteProcess.Runs(p.CommandLine, $"DirectorsConsole.{service}")));
            Assert.True(left.Count == 0, $"Still running {GoneWithin.TotalSeconds:0} s after the AppHost was killed:\n{string.Join('\n', left.Select(p => $"{p.Pid} {p.CommandLine}"))}");
            Assert.DoesNotContain(suite.FindSuiteProcesses(), p => SuiteProcess.IsRunning(p.Pid));
        }
        finally
        {
            Directory.Delete(workingDirectory, recursive: true);
        }
    }
}
