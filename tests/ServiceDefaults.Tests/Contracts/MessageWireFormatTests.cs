using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Tests.Redis;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.ServiceDefaults.Tests.Contracts;

/// <summary>
/// Messages stay in Redis across an upgrade (queued commands, a prompt's last event, events in flight while replicas of
/// two versions run side by side), so the message records must keep reading what earlier versions wrote. The samples
/// are JSON as written before the contracts became a library of their own; a renamed or retyped property fails here.
/// </summary>
public sealed class MessageWireFormatTests(RedisTestServers servers)
{
    private const string RunPromptCommandSample = """
        {"promptId":"0f8e2a4c-5b1d-4e2f-9a7c-3d6b8e1f2a40","jobId":"job-1a2b3c4d","backendId":null,
         "prompt":{"3":{"class_type":"KSampler","inputs":{"seed":7,"steps":8}}},
         "requestedAt":"2026-12-04T09:15:30.125+00:00",
         "workflow":{"nodes":[],"links":[],"version":0.4},"seed":123456789012,"seedNodes":["3"],
         "requiredCapabilities":["flux"],"preferredBackendIds":["node1","node2"],"priority":-2.5}
        """;

    private const string RenderEventSample = """
        {"kind":"completed","promptId":"0f8e2a4c-5b1d-4e2f-9a7c-3d6b8e1f2a40","jobId":"job-1a2b3c4d","backendId":"node1",
         "at":"2026-12-04T09:16:01.5+00:00","percent":100,"node":"9","nodeClass":"SaveImage","stepsDone":8,"stepsTotal":8,
         "outputs":[{"kind":"images","nodeId":"9","filename":"run_00001_.png","subfolder":"dispatch/a","type":"output",
                     "url":"http://node1:8188/view?filename=run_00001_.png","text":null},
                    {"kind":"text","nodeId":"12","filename":null,"subfolder":null,"type":null,"url":null,"text":"done"}],
         "error":null,"errorType":null,"preview":null}
        """;

    private const string CancelPromptRequestedSample = """
        {"promptId":"0f8e2a4c-5b1d-4e2f-9a7c-3d6b8e1f2a40","backendId":"node1","requestedAt":"2026-12-04T09:15:45+00:00"}
        """;

    private const string BackendStatusChangedSample = """
        {"backendId":"node1","status":"offline","previousStatus":"busy","lastError":"connection refused","at":"2026-12-04T09:17:00+00:00"}
        """;

    public static TheoryData<string, Type> Samples => new()
    {
        { RunPromptCommandSample, typeof(RunPromptCommand) },
        { RenderEventSample, typeof(RenderEvent) },
        { CancelPromptRequestedSample, typeof(CancelPromptRequested) },
        { BackendStatusChangedSample, typeof(BackendStatusChanged) },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void AStoredMessageReadsBackWithEveryField(string storedJson, Type messageType)
    {
        // Act: read as a consumer of the queue or the bus does, then write again as a producer does
        var message = JsonSerializer.Deserialize(storedJson, messageType, RedisEventBus.DataJson);
        var written = JsonSerializer.SerializeToNode(message, messageType, RedisEventBus.DataJson);

        // Assert: nothing dropped, renamed or added
        Assert.True(
            JsonNode.DeepEquals(JsonNode.Parse(storedJson), written),
            $"{messageType.Name} no longer reads and writes the stored shape:\n{written!.ToJsonString()}");
    }

    [Fact]
    public void AStoredCommandKeepsItsValues()
    {
        // Act
        var command = JsonSerializer.Deserialize<RunPromptCommand>(RunPromptCommandSample, RedisEventBus.DataJson)!;

        // Assert
        Assert.Equal("0f8e2a4c-5b1d-4e2f-9a7c-3d6b8e1f2a40", command.PromptId);
        Assert.Null(command.BackendId);
        Assert.Equal(123456789012, command.Seed);
        Assert.Equal(["node1", "node2"], command.PreferredBackendIds);
        Assert.Equal(-2.5, command.Priority);
        Assert.Equal(new DateTimeOffset(2026, 12, 4, 9, 15, 30, 125, TimeSpan.Zero), command.RequestedAt);
        Assert.Equal(7, command.Prompt["3"]!["inputs"]!["seed"]!.GetValue<int>());
    }

    [Fact]
    public async Task AnEventPublishedByThePreviousVersionReachesItsSubscriber()
    {
        // Arrange: a subscriber picks envelopes by the type name they carry, so that name is part of the wire format
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(RedisServerKind.Garnet);
        var options = RedisTestServers.Options(server.ConnectionString);
        await using var redis = new RedisConnection(options);
        await using var subscriber = new RedisSubscriber(options);
        var bus = new RedisEventBus(redis, subscriber, NullLogger<RedisEventBus>.Instance, TimeProvider.System);
        var channel = RedisTestServers.UniqueName("render-events");
        var received = Channel.CreateUnbounded<RenderEvent>();
        await using var subscription = await bus.SubscribeAsync<RenderEvent>(channel, (e, _) => received.Writer.WriteAsync(e, ct).AsTask(), cancellationToken: ct);
        var envelope = $$"""
            {"type":"RenderEvent","traceparent":null,"tracestate":null,"published_at":"2026-12-04T09:16:01.5Z","data":{{RenderEventSample}}}
            """;

        // Act
        await redis.PublishAsync(channel, envelope, ct);
        var renderEvent = await received.Reader.ReadAsync(ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), ct);

        // Assert
        Assert.Equal(RenderEventKinds.Completed, renderEvent.Kind);
        Assert.Equal("node1", renderEvent.BackendId);
        Assert.Equal(2, renderEvent.Outputs!.Count);
        Assert.Equal("dispatch/a", renderEvent.Outputs[0].Subfolder);
        Assert.Equal("done", renderEvent.Outputs[1].Text);
    }
}
