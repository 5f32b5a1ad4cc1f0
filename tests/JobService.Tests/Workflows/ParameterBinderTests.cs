using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Workflows;
using DirectorsConsole.ServiceDefaults.Errors;

namespace DirectorsConsole.JobService.Tests.Workflows;

public sealed class ParameterBinderTests
{
    private static JsonObject Parameters(string json) => JsonNode.Parse(json)!.AsObject();

    private static JsonNode? Input(ParameterResult result, string node, string input) => result.Prompt[node]!["inputs"]![input];

    [Fact]
    public void DefaultsWithoutSidecarReachTheRightNodesOfTxt2Img()
    {
        // Arrange
        var prompt = ShippedWorkflows.Prompt("txt2img_sdxl");

        // Act
        var result = ParameterBinder.Apply(prompt, null, Parameters("""
            {"prompt": "a lighthouse at dawn", "negative": "text, watermark", "steps": 30, "cfg_scale": 5.5,
             "resolution": "1216x832", "denoise": 0.8, "sampler_name": "dpmpp_2m", "scheduler": "karras",
             "batch_size": 2, "filename_prefix": "shot_010", "seed": 1234}
            """));

        // Assert
        Assert.True(result.IsValid);
        Assert.Empty(result.Ignored);
        Assert.Equal("a lighthouse at dawn", (string?)Input(result, "6", "text"));
        Assert.Equal("text, watermark", (string?)Input(result, "7", "text"));
        Assert.Equal(30, (long)Input(result, "3", "steps")!);
        Assert.Equal(5.5, (double)Input(result, "3", "cfg")!);
        Assert.Equal(1216, (long)Input(result, "5", "width")!);
        Assert.Equal(832, (long)Input(result, "5", "height")!);
        Assert.Equal(0.8, (double)Input(result, "3", "denoise")!);
        Assert.Equal("dpmpp_2m", (string?)Input(result, "3", "sampler_name"));
        Assert.Equal("karras", (string?)Input(result, "3", "scheduler"));
        Assert.Equal(2, (long)Input(result, "5", "batch_size")!);
        Assert.Equal("shot_010", (string?)Input(result, "9", "filename_prefix"));
        Assert.Equal(1234, result.Seed);
        Assert.Null(result.SeedNodes);
    }

    [Fact]
    public void TheLibrarysPromptIsNeverChanged()
    {
        // Arrange
        var prompt = ShippedWorkflows.Prompt("txt2img_sdxl");
        var before = prompt.ToJsonString();

        // Act
        var result = ParameterBinder.Apply(prompt, null, Parameters("""{"prompt": "changed", "steps": 3, "3:cfg": 1.5}"""));

        // Assert
        Assert.Equal("changed", (string?)Input(result, "6", "text"));
        Assert.Equal(before, prompt.ToJsonString());
    }

    [Fact]
    public void SidecarParametersBindByName()
    {
        // Arrange
        var prompt = ShippedWorkflows.Prompt("test_progress");
        var sidecar = ShippedWorkflows.Sidecar("test_progress");

        // Act
        var result = ParameterBinder.Apply(prompt, sidecar, Parameters("""
            {"steps": 4, "delay_ms": "20", "resolution": [32, 24], "fail": true, "seed": 77}
            """));

        // Assert
        Assert.True(result.IsValid);
        Assert.Empty(result.Ignored);
        Assert.Equal(4, (long)Input(result, "1", "steps")!);
        Assert.Equal(20, (long)Input(result, "1", "delay_ms")!);
        Assert.Equal(32, (long)Input(result, "1", "width")!);
        Assert.Equal(24, (long)Input(result, "1", "height")!);
        Assert.True((bool)Input(result, "1", "fail")!);
        Assert.Equal(77, result.Seed);
        Assert.Equal(["1"], result.SeedNodes);
        Assert.Equal(1234, (long)Input(result, "1", "seed")!);
    }

    [Fact]
    public void SidecarCanBindOneParameterToSeveralInputs()
    {
        // Arrange
        var prompt = JsonNode.Parse("""
            {"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "a", "clip": ["9", 1]}},
             "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "b", "clip": ["9", 1]}},
             "9": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x.safetensors"}}}
            """)!.AsObject();
        var sidecar = WorkflowSidecar.ParseYaml("parameters:\n  style: [1.text, '2:text']\n");

        // Act
        var result = ParameterBinder.Apply(prompt, sidecar, Parameters("""{"style": "film noir"}"""));

        // Assert
        Assert.Equal("film noir", (string?)Input(result, "1", "text"));
        Assert.Equal("film noir", (string?)Input(result, "2", "text"));
    }

    [Fact]
    public void NodeIdInputKeysWorkAsInTheOriginal()
    {
        // Arrange
        var prompt = ShippedWorkflows.Prompt("txt2img_sdxl");

        // Act
        var result = ParameterBinder.Apply(prompt, null, Parameters("""
            {"4:ckpt_name": "other.safetensors", "3:steps": "12", "3:cfg": 6, "3:seed": 5}
            """));

        // Assert
        Assert.True(result.IsValid);
        Assert.Equal("other.safetensors", (string?)Input(result, "4", "ckpt_name"));
        Assert.Equal(12, (long)Input(result, "3", "steps")!);
        Assert.Equal(6.0, (double)Input(result, "3", "cfg")!);
        Assert.Equal(5, (long)Input(result, "3", "seed")!);
        Assert.Null(result.Seed);
    }

    [Fact]
    public void LinkedInputsAreNeverWrittenOver()
    {
        // Arrange
        var prompt = ShippedWorkflows.Prompt("txt2img_sdxl");

        // Act
        var result = ParameterBinder.Apply(prompt, null, Parameters("""{"3:positive": "text", "8:vae": "other"}"""));

        // Assert
        Assert.IsType<JsonArray>(Input(result, "3", "positive"));
        Assert.IsType<JsonArray>(Input(result, "8", "vae"));
        Assert.Equal(["3:positive", "8:vae"], result.Ignored.Select(i => i.Name));
        Assert.Contains("linked", result.Ignored[0].Reason);
    }

    [Fact]
    public void UnknownParametersAreReportedWithAReason()
    {
        // Arrange
        var prompt = ShippedWorkflows.Prompt("txt2img_sdxl");

        // Act
        var result = ParameterBinder.Apply(prompt, ShippedWorkflows.Sidecar("txt2img_sdxl"), Parameters("""
            {"fps": 24, "camera_angle": "wide", "12:text": "x", "3:nope": 1}
            """));

        // Assert
        Assert.True(result.IsValid);
        var ignored = result.Ignored.ToDictionary(i => i.Name, i => i.Reason);
        Assert.Equal(["fps", "camera_angle", "12:text", "3:nope"], result.Ignored.Select(i => i.Name));
        Assert.StartsWith("no node input is bound to it", ignored["fps"]);
        Assert.Contains("node 12 is not in the workflow", ignored["12:text"]);
        Assert.Contains("has no input 'nope'", ignored["3:nope"]);
        Assert.Equal("fps: " + ignored["fps"], result.IgnoredSummaries[0]);
    }

    [Fact]
    public void KnownNamesTheWorkflowCannotTakeAreReported()
    {
        // Arrange: no sampler, no text encoder, no seed
        var prompt = ShippedWorkflows.Prompt("empty_image");

        // Act
        var result = ParameterBinder.Apply(prompt, null, Parameters("""{"prompt": "x", "steps": 10, "seed": 3, "width": 256}"""));

        // Assert
        Assert.Equal(["prompt", "steps", "seed"], result.Ignored.Select(i => i.Name));
        Assert.Null(result.Seed);
        Assert.Equal(256, (long)Input(result, "1", "width")!);
    }

    [Theory]
    [InlineData("""{"steps": "abc"}""", "steps", "int_parsing")]
    [InlineData("""{"steps": 0}""", "steps", "greater_than_equal")]
    [InlineData("""{"steps": 2.5}""", "steps", "int_parsing")]
    [InlineData("""{"cfg": "high"}""", "cfg", "float_parsing")]
    [InlineData("""{"prompt": 42}""", "prompt", "string_type")]
    [InlineData("""{"seed": -1}""", "seed", "greater_than_equal")]
    [InlineData("""{"resolution": "big"}""", "resolution", "value_error")]
    [InlineData("""{"3:steps": "many"}""", "3:steps", "int_parsing")]
    [InlineData("""{"3:sampler_name": 7}""", "3:sampler_name", "string_type")]
    public void WrongTypesAreErrorsNamingTheParameter(string parameters, string name, string type)
    {
        // Arrange
        var prompt = ShippedWorkflows.Prompt("txt2img_sdxl");
        var errors = new ValidationErrorList();

        // Act
        var result = ParameterBinder.Apply(prompt, null, Parameters(parameters));
        result.AddErrorsTo(errors, "body", "parameters");

        // Assert
        Assert.False(result.IsValid);
        var error = Assert.Single(errors.Errors);
        Assert.Equal(type, error.Type);
        Assert.Equal(["body", "parameters", name], error.Loc);
    }

    [Fact]
    public void SidecarTypeIsEnforced()
    {
        // Arrange
        var prompt = ShippedWorkflows.Prompt("test_progress");

        // Act
        var result = ParameterBinder.Apply(prompt, ShippedWorkflows.Sidecar("test_progress"), Parameters("""{"fail": "maybe"}"""));

        // Assert
        Assert.Equal("bool_parsing", Assert.Single(result.Errors).Type);
    }

    [Fact]
    public void PromptFollowsConditioningThroughPassThroughNodesAndLiteralPositives()
    {
        // Arrange: CFGGuider ← FluxGuidance ← CLIPTextEncode, and API doc 4's sampler with literal texts
        var prompt = JsonNode.Parse("""
            {"10": {"class_type": "CLIPTextEncode", "inputs": {"text": "old", "clip": ["30", 0]}},
             "11": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["10", 0], "guidance": 3.5}},
             "12": {"class_type": "CFGGuider", "inputs": {"positive": ["11", 0], "negative": ["13", 0], "cfg": 1.0}},
             "13": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["30", 0]}},
             "20": {"class_type": "KSampler", "inputs": {"seed": 42, "positive": "A cinematic cityscape", "negative": "blurry"}},
             "30": {"class_type": "CLIPLoader", "inputs": {"clip_name": "t5.safetensors"}}}
            """)!.AsObject();

        // Act
        var result = ParameterBinder.Apply(prompt, null, Parameters("""{"prompt": "new", "negative": "bad"}"""));

        // Assert
        Assert.Equal("new", (string?)Input(result, "10", "text"));
        Assert.Equal("bad", (string?)Input(result, "13", "text"));
        Assert.Equal("new", (string?)Input(result, "20", "positive"));
        Assert.Equal("bad", (string?)Input(result, "20", "negative"));
    }

    [Fact]
    public void SeedNodesComeFromTheSidecarAndLimitWhereTheSeedGoes()
    {
        // Arrange: two samplers, the sidecar names one
        var prompt = JsonNode.Parse("""
            {"1": {"class_type": "KSampler", "inputs": {"seed": 1}}, "2": {"class_type": "KSamplerAdvanced", "inputs": {"noise_seed": 2}}}
            """)!.AsObject();
        var sidecar = WorkflowSidecar.ParseYaml("seed_nodes: [2]");

        // Act
        var withSeed = ParameterBinder.Apply(prompt, sidecar, Parameters("""{"seed": 9}"""));
        var withoutSeed = ParameterBinder.Apply(prompt, sidecar, []);

        // Assert
        Assert.Equal(9, withSeed.Seed);
        Assert.Equal(["2"], withSeed.SeedNodes);
        Assert.Null(withoutSeed.Seed);
        Assert.Equal(["2"], withoutSeed.SeedNodes);
    }
}
