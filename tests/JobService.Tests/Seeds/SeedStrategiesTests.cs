using DirectorsConsole.JobService.Seeds;

namespace DirectorsConsole.JobService.Tests.Seeds;

public sealed class SeedStrategiesTests
{
    private const long MaxSafeInteger = (1L << 53) - 1;

    public static TheoryData<string> Strategies => new(SeedStrategies.Names);

    public static TheoryData<string, ulong> StrategiesAndBases
    {
        get
        {
            var data = new TheoryData<string, ulong>();
            foreach (var strategy in SeedStrategies.Names)
            {
                foreach (var baseSeed in new ulong[] { 0, 1, 42, 1UL << 53, ulong.MaxValue - 3, ulong.MaxValue })
                {
                    data.Add(strategy, baseSeed);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(StrategiesAndBases))]
    public void ThousandSeedsAreDistinctAndExactInJavaScript(string strategy, ulong baseSeed)
    {
        // Act
        var seeds = SeedStrategies.Generate(strategy, 1000, baseSeed);

        // Assert
        Assert.Equal(1000, seeds.Count);
        Assert.Equal(1000, seeds.Distinct().Count());
        Assert.All(seeds, seed => Assert.InRange(seed, 0, MaxSafeInteger));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void SameBaseGivesTheSameSeeds(string strategy)
    {
        // Act
        var first = SeedStrategies.Generate(strategy, 50, 987654321);
        var second = SeedStrategies.Generate(strategy, 50, 987654321);

        // Assert
        Assert.Equal(first, second);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void FirstSeedIsTheBase(string strategy)
    {
        // Act
        var seeds = SeedStrategies.Generate(strategy, 3, 42);

        // Assert
        Assert.Equal(42, seeds[0]);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void WithoutBaseSeedsAreStillDistinctAndInRange(string strategy)
    {
        // Act
        var seeds = SeedStrategies.Generate(strategy, 200, null);

        // Assert
        Assert.Equal(200, seeds.Distinct().Count());
        Assert.All(seeds, seed => Assert.InRange(seed, 0, MaxSafeInteger));
    }

    [Fact]
    public void RandomSeedsAreAtLeastAMillionApart()
    {
        // Act
        var seeds = SeedStrategies.Generate(SeedStrategies.Random, 1000, 7).Order().ToArray();

        // Assert
        for (var i = 1; i < seeds.Length; i++)
        {
            Assert.True(seeds[i] - seeds[i - 1] >= SeedStrategies.MinimumRandomDistance, $"{seeds[i - 1]} and {seeds[i]} are too close");
        }
    }

    [Fact]
    public void RandomBasesThatReduceAlikeStillGiveDifferentSeeds()
    {
        // Arrange: both bases are 5 modulo 2^53
        const ulong small = 5;
        const ulong large = (1UL << 53) + 5;

        // Act
        var fromSmall = SeedStrategies.Generate(SeedStrategies.Random, 5, small);
        var fromLarge = SeedStrategies.Generate(SeedStrategies.Random, 5, large);

        // Assert
        Assert.Equal(fromSmall[0], fromLarge[0]);
        Assert.NotEqual(fromSmall.Skip(1), fromLarge.Skip(1));
    }

    [Fact]
    public void WithoutBaseEachCallDrawsAnotherBase()
    {
        // Act
        var first = SeedStrategies.Generate(SeedStrategies.Random, 3, null);
        var second = SeedStrategies.Generate(SeedStrategies.Random, 3, null);

        // Assert
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void SequentialCountsUpAndWrapsBelowTwoToThe53()
    {
        // Act
        var plain = SeedStrategies.Generate(SeedStrategies.Sequential, 4, 100);
        var wrapping = SeedStrategies.Generate(SeedStrategies.Sequential, 3, (ulong)MaxSafeInteger);

        // Assert
        Assert.Equal([100, 101, 102, 103], plain);
        Assert.Equal([MaxSafeInteger, 0, 1], wrapping);
    }

    [Fact]
    public void FibonacciKeepsTheOriginalOffsets()
    {
        // Act: the original pins the offsets 0, 1000, 2000, 4000, 7000, 12000, 20000
        var seeds = SeedStrategies.Generate(SeedStrategies.Fibonacci, 7, 500);

        // Assert
        Assert.Equal([500, 1500, 2500, 4500, 7500, 12500, 20500], seeds);
    }

    [Fact]
    public void GoldenRatioKeepsTheOriginalValuesWhereTheyAreSound()
    {
        // Act: the original: base 100 → 100, 161, 261, 423, 685
        var seeds = SeedStrategies.Generate(SeedStrategies.GoldenRatio, 5, 100);

        // Assert
        Assert.Equal([100, 161, 261, 423, 685], seeds);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(1UL)]
    public void GoldenRatioNoLongerRepeatsForTinyBases(ulong baseSeed)
    {
        // Act: the original gave 0, 0, 0, … for base 0
        var seeds = SeedStrategies.Generate(SeedStrategies.GoldenRatio, 10, baseSeed);

        // Assert
        Assert.Equal((long)baseSeed, seeds[0]);
        Assert.Equal(10, seeds.Distinct().Count());
        Assert.True(seeds[1] - seeds[0] > 1_000_000, "the steps after the base are golden-ratio sized, not +1");
    }

    [Fact]
    public void UnknownStrategyIsAValidationErrorNamingTheChoices()
    {
        // Act
        var error = Assert.Throws<UnknownSeedStrategyException>(() => SeedStrategies.Generate("lucky", 3, 1));

        // Assert
        Assert.Equal("lucky", error.Strategy);
        Assert.Equal("Input should be 'random', 'sequential', 'fibonacci' or 'golden_ratio'", error.Message);
        Assert.False(SeedStrategies.IsKnown("lucky"));
        Assert.True(SeedStrategies.IsKnown("golden_ratio"));
    }

    [Fact]
    public void CountsOutsideTheRangeAreRejectedAndZeroGivesNothing()
    {
        // Act
        var none = SeedStrategies.Generate(SeedStrategies.Random, 0, 1);

        // Assert
        Assert.Empty(none);
        Assert.Throws<ArgumentOutOfRangeException>(() => SeedStrategies.Generate(SeedStrategies.Random, -1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SeedStrategies.Generate(SeedStrategies.Random, SeedStrategies.MaxCount + 1, 1));
    }
}
