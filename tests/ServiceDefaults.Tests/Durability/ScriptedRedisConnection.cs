using DirectorsConsole.Messaging;
using StackExchange.Redis;

namespace DirectorsConsole.ServiceDefaults.Tests.Durability;

/// <summary>
/// Answers each command with what the test's script returns for it (the words of the command): text is a string
/// reply, <see cref="EmptyArray"/> an empty array, and text starting with '-' an error reply. Lets a test make a server
/// report what a real one reports only when its disk is full. Records the name of every command it received.
/// </summary>
internal sealed class ScriptedRedisConnection(Func<IReadOnlyList<string>, string> script) : IRedisConnection
{
    public const string EmptyArray = "*0";

    public List<string> Received { get; } = [];

    public bool IsConnected => true;

    public Task<RedisReply> ExecuteAsync(IReadOnlyList<RedisArg> command, CancellationToken cancellationToken = default) =>
        ExecuteAsync(command, OnLostReply.Fail, cancellationToken);

    public Task<RedisReply> ExecuteAsync(IReadOnlyList<RedisArg> command, OnLostReply onLostReply, CancellationToken cancellationToken = default)
    {
        var words = command.Select(arg => arg.ToString()).ToArray();
        lock (Received)
        {
            Received.Add(words[0]);
        }

        var answer = script(words);
        if (answer.StartsWith('-'))
        {
            throw new DirectorsConsole.Messaging.RedisServerException(answer[1..]);
        }

        var result = answer == EmptyArray ? RedisResult.Create(Array.Empty<RedisResult>()) : RedisResult.Create((RedisValue)answer);
        return Task.FromResult(RedisReply.From(result));
    }

    public Task<RedisReply> ScriptEvaluateAsync(
        string script, IReadOnlyList<string> keys, IReadOnlyList<RedisArg> args, CancellationToken cancellationToken = default) =>
        ExecuteAsync(["EVAL", script], cancellationToken);

    public Task<RedisReply> ScriptEvaluateAsync(
        string script, IReadOnlyList<string> keys, IReadOnlyList<RedisArg> args, OnLostReply onLostReply, CancellationToken cancellationToken = default) =>
        ExecuteAsync(["EVAL", script], cancellationToken);
}
