using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Comfy;
using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.BackendService.Model;
using DirectorsConsole.Contracts;
using DirectorsConsole.ServiceDefaults.Backends;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>Seed injection, binary frames, backend choice and progress: the logic of dispatch without a node.</summary>
public sealed class DispatchLogicTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    [Fact]
    public void SeedGoesIntoEveryLiteralSeedInputButNotIntoLinks()
    {
        // Arrange
        var prompt = JsonNode.Parse("""
            {"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "model": ["4", 0]}},
             "5": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise_seed": 7}},
             "6": {"class_type": "KSampler", "inputs": {"seed": ["9", 0]}},
             "9": {"class_type": "PrimitiveNode", "inputs": {"value": 3}}}
            """)!.AsObject();

        // Act
        var seeded = PromptSeeds.Apply(prompt, 424242, null);

        // Assert
        Assert.Equal(424242, (long)seeded["3"]!["inputs"]!["seed"]!);
        Assert.Equal(424242, (long)seeded["5"]!["inputs"]!["noise_seed"]!);
        Assert.IsType<JsonArray>(seeded["6"]!["inputs"]!["seed"]);
        Assert.Equal(20, (int)seeded["3"]!["inputs"]!["steps"]!);
        Assert.Equal(1, (long)prompt["3"]!["inputs"]!["seed"]!);
    }

    [Fact]
    public void SeedNodesLimitWhereTheSeedGoes()
    {
        // Arrange
        var prompt = JsonNode.Parse("""
            {"3": {"class_type": "KSampler", "inputs": {"seed": 1}}, "8": {"class_type": "KSampler", "inputs": {"seed": 2}}}
            """)!.AsObject();

        // Act
        var seeded = PromptSeeds.Apply(prompt, 99, ["8"]);

        // Assert
        Assert.Equal(1, (long)seeded["3"]!["inputs"]!["seed"]!);
        Assert.Equal(99, (long)seeded["8"]!["inputs"]!["seed"]!);
    }

    [Fact]
    public void PreviewImageFrameIsAPngOfTheRunningPrompt()
    {
        // Arrange: head 0000000100000002 as in preview_and_ws_binary.jsonl
        var frame = new byte[8 + PngSignature.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, 1);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), 2);
        PngSignature.CopyTo(frame, 8);

        // Act
        var parsed = ComfyBinaryFrame.TryParse(frame, out var result);

        // Assert
        Assert.True(parsed);
        Assert.Equal(ComfyBinaryFrame.PreviewImage, result!.EventType);
        Assert.Equal("image/png", result.MimeType);
        Assert.Null(result.PromptId);
        Assert.Equal(PngSignature, result.Payload.ToArray());
    }

    [Fact]
    public void PreviewWithMetadataNamesItsPrompt()
    {
        // Arrange
        var metadata = Encoding.UTF8.GetBytes("""{"node_id": "3", "prompt_id": "5b1c0f7e-1111-4222-8333-944445555666", "display_node_id": "3", "parent_node_id": null, "real_node_id": "3", "image_type": "image/jpeg"}""");
        var jpeg = new byte[] { 0xFF, 0xD8, 0xFF, 0xE0 };
        var frame = new byte[8 + metadata.Length + jpeg.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, 4);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), (uint)metadata.Length);
        metadata.CopyTo(frame, 8);
        jpeg.CopyTo(frame, 8 + metadata.Length);

        // Act
        var parsed = ComfyBinaryFrame.TryParse(frame, out var result);

        // Assert
        Assert.True(parsed);
        Assert.Equal("5b1c0f7e-1111-4222-8333-944445555666", result!.PromptId);
        Assert.Equal("3", result.NodeId);
        Assert.Equal("image/jpeg", result.MimeType);
        Assert.Equal(jpeg, result.Payload.ToArray());
    }

    [Fact]
    public void TruncatedOrUnknownFramesAreRefused()
    {
        // Arrange
        var tooShort = new byte[] { 0, 0, 0, 1, 0, 0 };
        var lyingLength = new byte[] { 0, 0, 0, 4, 0, 0, 1, 0, (byte)'{' };
        var unknown = new byte[] { 0, 0, 0, 9, 0, 0, 0, 0 };

        // Act + Assert
        Assert.False(ComfyBinaryFrame.TryParse(tooShort, out _));
        Assert.False(ComfyBinaryFrame.TryParse(lyingLength, out _));
        Assert.False(ComfyBinaryFrame.TryParse(unknown, out _));
    }

    [Fact]
    public void PreferredBackendWinsAmongThoseWithAFreeSlot()
    {
        // Arrange
        var idle = Candidate("idle", assigned: 0);
        var preferred = Candidate("preferred", assigned: 1, max: 2);
        var full = Candidate("full", assigned: 1, max: 1);

        // Act
        var decision = BackendRanking.Choose([idle, preferred, full], [], ["full", "preferred"]);

        // Assert
        Assert.Equal(RoutingVerdict.Route, decision.Verdict);
        Assert.Equal("preferred", decision.Backend!.Backend.Id);
    }

    [Fact]
    public void LeastLoadedThenShortestQueueThenMostFreeVram()
    {
        // Arrange
        var half = Candidate("half", assigned: 1, max: 2);
        var busyQueue = Candidate("busy-queue", assigned: 0, queue: 3, vramFree: 20);
        var lessVram = Candidate("less-vram", assigned: 0, queue: 0, vramFree: 4);
        var moreVram = Candidate("more-vram", assigned: 0, queue: 0, vramFree: 16);

        // Act
        var ranked = BackendRanking.Rank([half, busyQueue, lessVram, moreVram], []).Select(c => c.Backend.Id).ToArray();

        // Assert
        Assert.Equal(["more-vram", "less-vram", "busy-queue", "half"], ranked);
    }

    [Fact]
    public void CapabilitiesDecideEligibilityAndOfflineBackendsMakeTheCommandWait()
    {
        // Arrange
        var offlineWithModel = Candidate("offline", assigned: 0, capabilities: ["flux"], status: BackendStatuses.Offline);
        var onlineWithout = Candidate("online", assigned: 0);
        var disabledWithModel = Candidate("disabled", assigned: 0, capabilities: ["flux"], enabled: false);

        // Act
        var waits = BackendRanking.Choose([offlineWithModel, onlineWithout, disabledWithModel], ["flux"], []);
        var impossible = BackendRanking.Choose([onlineWithout, disabledWithModel], ["flux"], []);

        // Assert
        Assert.Equal(RoutingVerdict.Wait, waits.Verdict);
        Assert.Equal(RoutingVerdict.NoEligibleBackend, impossible.Verdict);
    }

    [Fact]
    public void UnknownStateCountsAsOffline()
    {
        // Arrange
        var neverProbed = new BackendCandidate(Definition("new", 1, [], true), null, 0);

        // Act
        var decision = BackendRanking.Choose([neverProbed], [], []);

        // Assert
        Assert.Equal(RoutingVerdict.Wait, decision.Verdict);
    }

    [Fact]
    public void ProgressCoversTheWholePromptAndSkipsCachedNodes()
    {
        // Arrange: a loader (cached), a sampler with 4 steps and a saver
        var progress = new PromptProgress(new Dictionary<string, string> { ["1"] = "CheckpointLoaderSimple", ["2"] = "KSampler", ["3"] = "SaveImage" });
        progress.OnCached(["1"]);

        // Act
        var atStart = progress.OnExecuting("2");
        var halfway = progress.OnProgress("2", 2, 4);
        var sampled = progress.OnProgress("2", 4, 4);
        var saving = progress.OnExecuting("3");

        // Assert
        Assert.Equal(0, atStart.Percent);
        Assert.Equal(25, halfway.Percent);
        Assert.Equal("KSampler", halfway.NodeClass);
        Assert.Equal(2, halfway.StepsDone);
        Assert.Equal(4, halfway.StepsTotal);
        Assert.Equal(50, sampled.Percent);
        Assert.Equal(50, saving.Percent);
        Assert.Equal("SaveImage", saving.NodeClass);
        Assert.Null(saving.StepsTotal);
    }

    [Fact]
    public void ProgressNeverGoesBackwardsNorReachesHundredBeforeTheEnd()
    {
        // Arrange
        var progress = new PromptProgress(new Dictionary<string, string> { ["1"] = "KSampler" });

        // Act
        var late = progress.OnProgress("1", 10, 10);
        var sampler2 = progress.OnProgress("1", 1, 10);

        // Assert
        Assert.Equal(99.9, late.Percent);
        Assert.Equal(99.9, sampler2.Percent);
    }

    private static BackendCandidate Candidate(
        string id, long assigned, int max = 1, int queue = 0, long vramFree = 8, IReadOnlyList<string>? capabilities = null,
        string status = BackendStatuses.Idle, bool enabled = true) =>
        new(Definition(id, max, capabilities ?? [], enabled),
            new BackendRuntimeState(id, status, DateTimeOffset.UnixEpoch) { QueuePending = queue, GpuMemoryFree = vramFree * 1024 * 1024 * 1024 },
            assigned);

    private static BackendDefinition Definition(string id, int max, IReadOnlyList<string> capabilities, bool enabled) =>
        new(id, id, "127.0.0.1", 8188, enabled, capabilities, max, [], BackendSource.Api);
}
