using System.Text.Json.Nodes;
using DirectorsConsole.Contracts;

namespace DirectorsConsole.JobService.Tests.Seeds;

public sealed class PromptSeedsTests
{
    private static JsonObject Prompt() => JsonNode.Parse("""
        {"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20}},
         "4": {"class_type": "KSamplerAdvanced", "inputs": {"noise_seed": 2}},
         "5": {"class_type": "RandomNoise", "inputs": {"noise_seed": 3}},
         "6": {"class_type": "TestProgressImage", "inputs": {"seed": ["9", 0]}},
         "9": {"class_type": "PrimitiveInt", "inputs": {"value": 4}}}
        """)!.AsObject();

    [Fact]
    public void SeedGoesIntoSeedAndNoiseSeedButNotIntoLinks()
    {
        // Arrange
        var prompt = Prompt();

        // Act
        var seeded = PromptSeeds.Apply(prompt, 9_007_199_254_740_991, null);

        // Assert
        Assert.Equal(9_007_199_254_740_991, (long)seeded["3"]!["inputs"]!["seed"]!);
        Assert.Equal(9_007_199_254_740_991, (long)seeded["4"]!["inputs"]!["noise_seed"]!);
        Assert.Equal(9_007_199_254_740_991, (long)seeded["5"]!["inputs"]!["noise_seed"]!);
        Assert.IsType<JsonArray>(seeded["6"]!["inputs"]!["seed"]);
        Assert.Equal(1, (long)prompt["3"]!["inputs"]!["seed"]!);
    }

    [Fact]
    public void TargetsListOnlyTheSeedNodesWhenGiven()
    {
        // Act
        var all = PromptSeeds.Targets(Prompt(), null);
        var only = PromptSeeds.Targets(Prompt(), ["4", "6"]);

        // Assert
        Assert.Equal([("3", "seed"), ("4", "noise_seed"), ("5", "noise_seed")], all);
        Assert.Equal([("4", "noise_seed")], only);
    }
}
