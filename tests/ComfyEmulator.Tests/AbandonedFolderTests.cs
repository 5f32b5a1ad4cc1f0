using DirectorsConsole.ComfyEmulator.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>An emulator killed (as the tests kill nodes) cannot delete its folder; the next one to start removes it.</summary>
public sealed class AbandonedFolderTests : IDisposable
{
    private readonly string _temporary = Directory.CreateTempSubdirectory("abandoned-folder-tests-").FullName;

    [Fact]
    public void AFolderWhoseOwnerIsGoneIsRemovedAfterAMinuteOneOfAnOlderVersionAfterADayAndARunningOrYoungOneIsKept()
    {
        // Arrange
        var now = DateTimeOffset.UtcNow;
        var killed = Instance("killed", owner: true, age: TimeSpan.FromMinutes(5), now, "2147483646");
        var olderVersion = Instance("older", owner: false, age: TimeSpan.FromDays(2), now);
        var olderVersionMaybeRunning = Instance("older-recent", owner: false, age: TimeSpan.FromHours(2), now);
        var running = Instance("running", owner: true, age: TimeSpan.FromHours(3), now);
        var starting = Instance("starting", owner: true, age: TimeSpan.FromSeconds(5), now);
        // Not locked (as where file locks are off), but naming a process that runs: this test's.
        var namesALiveProcess = Instance("alive", owner: true, age: TimeSpan.FromHours(1), now, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var unrelated = Directory.CreateDirectory(Path.Combine(_temporary, "other-folder")).FullName;
        Directory.SetLastWriteTimeUtc(unrelated, now.UtcDateTime.AddDays(-3));
        using var held = new FileStream(Path.Combine(running, ComfyFolders.OwnerFile), FileMode.Open, FileAccess.Write, FileShare.None);
        Directory.SetLastWriteTimeUtc(running, now.UtcDateTime.AddHours(-3));

        // Act
        var removed = ComfyFolders.RemoveAbandoned(_temporary, now, NullLogger.Instance);

        // Assert
        Assert.Equal(2, removed);
        Assert.False(Directory.Exists(killed));
        Assert.False(Directory.Exists(olderVersion));
        Assert.True(File.Exists(Path.Combine(running, "output", "ComfyUI_00001_.png")));
        Assert.True(Directory.Exists(starting));
        Assert.True(Directory.Exists(olderVersionMaybeRunning));
        Assert.True(Directory.Exists(namesALiveProcess));
        Assert.True(Directory.Exists(unrelated));
    }

    [Fact]
    public async Task ARunningEmulatorHoldsItsOwnerFileLockedAndDeletesItsFolderWhenItStops()
    {
        // Arrange
        var emulator = await EmulatorInstance.StartAsync();
        var folder = Path.GetDirectoryName(emulator.Folders.Temp)!;

        // Act: what a sweeping instance tries
        var locked = Assert.ThrowsAny<IOException>(() =>
            new FileStream(Path.Combine(folder, ComfyFolders.OwnerFile), FileMode.Open, FileAccess.Write, FileShare.None).Dispose());
        await emulator.DisposeAsync();

        // Assert
        Assert.NotNull(locked);
        Assert.False(Directory.Exists(folder));
    }

    public void Dispose() => Directory.Delete(_temporary, recursive: true);

    private string Instance(string name, bool owner, TimeSpan age, DateTimeOffset now, string ownerProcess = "")
    {
        var folder = Directory.CreateDirectory(Path.Combine(_temporary, ComfyFolders.InstancePrefix + name)).FullName;
        Directory.CreateDirectory(Path.Combine(folder, "output"));
        File.WriteAllBytes(Path.Combine(folder, "output", "ComfyUI_00001_.png"), [1, 2, 3]);
        if (owner)
        {
            File.WriteAllText(Path.Combine(folder, ComfyFolders.OwnerFile), ownerProcess);
        }

        Directory.SetLastWriteTimeUtc(folder, now.UtcDateTime - age);
        return folder;
    }
}
