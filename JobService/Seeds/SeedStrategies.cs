using System.Security.Cryptography;

namespace DirectorsConsole.JobService.Seeds;

/// <summary>
/// The seeds of a job group's children (API doc 4 SeedStrategy). Every seed is in
/// 0…2^53−1 so JavaScript clients read it exactly, no two seeds of one call are equal, and the first seed is the
/// base (reduced modulo 2^53). A given base makes every strategy reproducible; without one a random base is drawn.
/// </summary>
public static class SeedStrategies
{
    public const string Random = "random";
    public const string Sequential = "sequential";
    public const string Fibonacci = "fibonacci";
    public const string GoldenRatio = "golden_ratio";

    /// <summary>Seeds are below this (2^53): the largest range a JavaScript number holds exactly.</summary>
    public const long SeedLimit = 1L << 53;

    /// <summary>Random seeds are at least this far from every earlier seed of the same call, as in the original.</summary>
    public const long MinimumRandomDistance = 1_000_000;

    /// <summary>The most seeds one call gives; far more children than any group has.</summary>
    public const int MaxCount = 100_000;

    private const long Mask = SeedLimit - 1;
    private const double Phi = 1.6180339887498949;

    /// <summary>⌊2^53/φ⌋ rounded to an odd number, so stepping by it modulo 2^53 visits every value once.</summary>
    private const long GoldenStep = 5566755282872655;

    public static IReadOnlyList<string> Names { get; } = [Random, Sequential, Fibonacci, GoldenRatio];

    public static bool IsKnown(string? strategy) => strategy is not null && Names.Contains(strategy, StringComparer.Ordinal);

    /// <summary>
    /// <paramref name="count"/> distinct seeds by <paramref name="strategy"/> (<see cref="Names"/>):
    /// <list type="bullet">
    /// <item><c>random</c>: the base, then SplitMix64(base) draws, each ≥ <see cref="MinimumRandomDistance"/> from all earlier seeds;</item>
    /// <item><c>sequential</c>: base, base+1, base+2, … (wrapping at 2^53);</item>
    /// <item><c>fibonacci</c>: base + 1000·(1+1+2+3+5+…), offsets 0, 1000, 2000, 4000, 7000, 12000, 20000, … modulo 2^53;</item>
    /// <item><c>golden_ratio</c>: base + ⌊base·(φ^i − 1)⌋ while that grows and stays below 2^53 (base 100 → 100, 161, 261,
    /// 423, 685), then steps of 2^53/φ; base 0 or 1, where the original repeated seeds, take those steps from the start.</item>
    /// </list>
    /// A value already given is replaced by the next free one above it, so no strategy ever repeats a seed.
    /// </summary>
    /// <exception cref="UnknownSeedStrategyException">The strategy is none of <see cref="Names"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or above <see cref="MaxCount"/>.</exception>
    public static IReadOnlyList<long> Generate(string strategy, int count, ulong? baseSeed)
    {
        if (!IsKnown(strategy))
        {
            throw new UnknownSeedStrategyException(strategy);
        }

        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxCount);

        var fullBase = baseSeed ?? RandomBase();
        var first = (long)(fullBase & Mask);
        var seeds = new UniqueSeeds(count);
        if (count == 0)
        {
            return seeds.Values;
        }

        seeds.Add(first);
        switch (strategy)
        {
            case Sequential:
                for (var i = 1; i < count; i++)
                {
                    seeds.Add(first + i);
                }

                break;
            case Fibonacci:
                AddFibonacci(seeds, first, count);
                break;
            case GoldenRatio:
                AddGoldenRatio(seeds, first, count);
                break;
            default:
                AddRandom(seeds, fullBase, count);
                break;
        }

        return seeds.Values;
    }

    private static ulong RandomBase() => BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(sizeof(ulong)));

    // Offsets are 1000·S(i) with S the running sum of 1, 1, 2, 3, 5, …; computed modulo 2^53, so exactly.
    private static void AddFibonacci(UniqueSeeds seeds, long first, int count)
    {
        long previous = 0, current = 1, sum = 0;
        for (var i = 1; i < count; i++)
        {
            sum = (sum + current) & Mask;
            (previous, current) = (current, (previous + current) & Mask);
            seeds.Add((long)(((UInt128)(ulong)sum * 1000 + (ulong)first) & Mask));
        }
    }

    // The original's formula is sound only while it is exact and grows (base ≥ 2 and below 2^53); after that, stepping by
    // 2^53/φ keeps golden-ratio spacing without the float overflow and the repeats of bases 0 and 1.
    private static void AddGoldenRatio(UniqueSeeds seeds, long first, int count)
    {
        var last = first;
        var formulaHolds = true;
        for (var i = 1; i < count; i++)
        {
            if (formulaHolds)
            {
                var offset = Math.Truncate(first * (Math.Pow(Phi, i) - 1));
                var candidate = first + offset;
                formulaHolds = offset >= 1 && candidate < SeedLimit && (long)candidate > last;
                if (formulaHolds)
                {
                    last = (long)candidate;
                    seeds.Add(last);
                    continue;
                }
            }

            last = (last + GoldenStep) & Mask;
            seeds.Add(last);
        }
    }

    private static void AddRandom(UniqueSeeds seeds, ulong fullBase, int count)
    {
        var generator = new SplitMix64(fullBase);
        var taken = new SortedSet<long>(seeds.Values);
        while (seeds.Values.Count < count)
        {
            var candidate = (long)(generator.Next() >> 11);
            var near = taken.GetViewBetween(
                Math.Max(0, candidate - MinimumRandomDistance + 1),
                Math.Min(Mask, candidate + MinimumRandomDistance - 1));
            if (near.Count == 0)
            {
                taken.Add(candidate);
                seeds.Add(candidate);
            }
        }
    }

    /// <summary>Seeds in order of generation; a value already present moves up to the next free one (modulo 2^53).</summary>
    private sealed class UniqueSeeds(int capacity)
    {
        private readonly HashSet<long> _given = new(capacity);
        private readonly List<long> _values = new(capacity);

        public IReadOnlyList<long> Values => _values;

        public void Add(long seed)
        {
            seed &= Mask;
            while (!_given.Add(seed))
            {
                seed = (seed + 1) & Mask;
            }

            _values.Add(seed);
        }
    }

    /// <summary>Sebastiano Vigna's SplitMix64: small, fast, and every 64-bit state gives a different sequence.</summary>
    private struct SplitMix64(ulong state)
    {
        private ulong _state = state;

        public ulong Next()
        {
            var z = _state += 0x9E3779B97F4A7C15;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            return z ^ (z >> 31);
        }
    }
}

/// <summary>A seed strategy that is none of <see cref="SeedStrategies.Names"/>; the API reports it as a 422 whose
/// message is <see cref="Exception.Message"/> (FastAPI's wording for an enum).</summary>
public sealed class UnknownSeedStrategyException(string? strategy) : ArgumentException(ExpectedValues)
{
    public static string ExpectedValues { get; } =
        $"Input should be {string.Join(", ", SeedStrategies.Names.SkipLast(1).Select(n => $"'{n}'"))} or '{SeedStrategies.Names[^1]}'";

    public string? Strategy { get; } = strategy;
}
