using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.Comfy;
using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.Contracts;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>Seed injection, binary frames and progress: the logic of dispatch without a node.</summary>
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
}
