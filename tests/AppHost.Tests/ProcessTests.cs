using System.Diagnostics;
using System.Net.Sockets;
using DirectorsConsole.AppHost.Extensions;
using DirectorsConsole.AppHost.Hosting;

namespace DirectorsConsole.AppHost.Tests;

/// <summary>Starts real processes through the same resource code the AppHost uses.</summary>
public sealed class ProcessTests : IDisposable
{
    private readonly TempSuiteDirectory _root = new();

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task EmbeddedGarnetKeepsItsDataAcrossARestartAndStopsCleanly()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        var dataDirectory = Path.Combine(_root.Path, "data", "redis");

        // Act
        int firstPid;
        await using (var first = StartGarnet(dataDirectory, out var garnet))
        {
            await first.StartAsync(ct);
            firstPid = first.Replicas("redis")[0].Snapshot().Pid!.Value;
            Assert.Equal("+OK", await SendAsync(garnet.Resource.Endpoints[0], ["SET", "apphost:test", "persisted"], ct));
            await first.StopAsync();
            Assert.Equal(ResourceState.Exited, first.Replicas("redis")[0].State);
        }

        string? value;
        await using (var second = StartGarnet(dataDirectory, out var garnet))
        {
            await second.StartAsync(ct);
            value = await GetAsync(garnet.Resource.Endpoints[0], "apphost:test", ct);
        }

        // Assert
        Assert.Equal("persisted", value);
        Assert.True(HasExited(firstPid));
        Assert.True(File.Exists(Path.Combine(_root.Path, "logs", "apphost", "redis-0.out")));
    }

    [Fact]
    public async Task AProcessThatExitsIsRestartedWithBackoff()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        var builder = _root.Builder();
        builder.AddExecutable("crasher", "sh", "tcp", ["-c", "echo crashing; exit 3"]);
        await using var app = builder.Build();
        var crasher = app.Replicas("crasher")[0];
        var started = Stopwatch.StartNew();

        // Act: start-up may or may not catch the process running between two exits; either is fine here.
        var startUp = app.StartAsync(ct);
        while (crasher.Snapshot().Restarts < 2)
        {
            await Task.Delay(100, ct);
        }

        await app.StopAsync();

        // Assert: restarted after 1 s, then after 2 s more.
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(3), $"two restarts after {started.Elapsed}");
        Assert.Contains("exited with code 3", crasher.LastProblem, StringComparison.Ordinal);
        Assert.Contains("crashing", crasher.RecentOutput());
        Assert.Equal(ResourceState.Exited, crasher.State);
        var startUpOutcome = await Record.ExceptionAsync(() => startUp);
        Assert.True(startUpOutcome is null or OperationCanceledException, startUpOutcome?.ToString());
    }

    [Fact]
    public async Task StopEndsTheProcess()
    {
        var ct = TestContext.Current.CancellationToken;
        var builder = _root.Builder();
        builder.AddExecutable("sleeper", "sleep", "tcp", ["300"]);
        await using var app = builder.Build();
        await app.StartAsync(ct);
        var pid = app.Replicas("sleeper")[0].Snapshot().Pid!.Value;

        await app.StopAsync();

        Assert.True(HasExited(pid));
        Assert.Equal(ResourceState.Exited, app.Replicas("sleeper")[0].State);
    }

    [Fact]
    public async Task ADependencyThatCannotStartFailsStartUp()
    {
        var ct = TestContext.Current.CancellationToken;
        var builder = _root.Builder();
        var missing = builder.AddExecutable("missing", "/nonexistent/server", "tcp", []);
        builder.AddExecutable("dependent", "sleep", "tcp", ["300"]).WaitFor(missing);
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<AppHostStartupException>(() => app.StartAsync(ct));

        Assert.Contains("'missing' failed: could not start '/nonexistent/server'", error.Message, StringComparison.Ordinal);
        Assert.Equal(ResourceState.Waiting, app.Replicas("dependent")[0].State);
    }

    private DistributedApplication StartGarnet(string dataDirectory, out IResourceBuilder<GarnetResource> garnet)
    {
        var builder = _root.Builder();
        garnet = builder.AddGarnet("redis", dataDirectory);
        return builder.Build();
    }

    private static async Task<string> SendAsync(Uri endpoint, string[] command, CancellationToken ct)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(endpoint.Host, endpoint.Port, ct);
        return await RespPingProbe.SendAsync(client.GetStream(), command, ct);
    }

    private static async Task<string?> GetAsync(Uri endpoint, string key, CancellationToken ct)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(endpoint.Host, endpoint.Port, ct);
        var stream = client.GetStream();
        var header = await RespPingProbe.SendAsync(stream, ["GET", key], ct);
        return header == "$-1" ? null : await RespPingProbe.ReadLineAsync(stream, ct);
    }

    private static bool HasExited(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }
}
