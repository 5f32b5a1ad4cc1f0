using System.Text.RegularExpressions;

namespace DirectorsConsole.ServiceDefaults.Tests.Architecture;

/// <summary>
/// Only the messaging library speaks Redis's command language: services and ServiceDefaults call its typed helpers
/// (<c>RedisCommands</c>) or run their stores' Lua scripts, so what each command does to a lost reply, to the
/// durability gate and to the server's reply format is decided in one place. This test reads the source tree and
/// fails on a command spelled out anywhere else.
/// </summary>
public sealed partial class RedisCommandRuleTests
{
    // A command written as a list or array literal, or by name, handed to ExecuteAsync/Execute (ours or IDatabase's).
    [GeneratedRegex("""\.Execute(Async)?\(\s*(\[|new\b|"[A-Za-z]+")""")]
    private static partial Regex RawCommand();

    private static readonly string[] AllowedFolders = ["Messaging", "tests"];

    [Fact]
    public void NoCodeOutsideTheMessagingLibraryBuildsARawCommand()
    {
        var root = SourceTree.RepositoryRoot();
        var offenders = new List<string>();
        foreach (var file in SourceTree.Files(root, AllowedFolders))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                if (RawCommand().IsMatch(lines[i]))
                {
                    offenders.Add($"{Path.GetRelativePath(root, file)}:{i + 1}: {lines[i].Trim()}");
                }
            }
        }

        Assert.True(offenders.Count == 0,
            "Redis commands are built only in Messaging/ (add a typed helper to Messaging/RedisCommands.cs):\n" + string.Join("\n", offenders));
    }

    [Theory]
    [InlineData("""await redis.ExecuteAsync(["HLEN", key], cancellationToken);""", true)]
    [InlineData("""var reply = await redis.ExecuteAsync(new RedisArg[] { "GET", key });""", true)]
    [InlineData("""db.Execute("CLIENT", "LIST");""", true)]
    [InlineData("""await redis.ExecuteAsync(command, onLostReply, cancellationToken)""", false)]
    [InlineData("""protected override async Task ExecuteAsync(CancellationToken stoppingToken)""", false)]
    [InlineData("""await redis.HashLengthAsync(key, cancellationToken);""", false)]
    public void TheRuleRecognisesARawCommand(string line, bool isRaw) =>
        Assert.Equal(isRaw, RawCommand().IsMatch(line));

    [Fact]
    public void TheRuleReadsTheServicesSources()
    {
        // A tree walk that found nothing would pass the rule for the wrong reason.
        var files = SourceTree.Files(SourceTree.RepositoryRoot(), AllowedFolders).Select(Path.GetFileName).ToHashSet();
        Assert.Contains("JobStore.cs", files);
        Assert.Contains("RedisDurabilityMonitor.cs", files);
        Assert.DoesNotContain("RedisCommands.cs", files);
    }
}
