using System.Text;
using DirectorsConsole.ServiceDefaults.Paths;

namespace DirectorsConsole.PathService.Tests.Paths;

/// <summary>Translating a path to another OS and back returns the path in normal form, for many generated
/// paths. The mappings nest the same way on every OS, which is what makes a set of mappings reversible.</summary>
public sealed class PathTranslatorRoundTripTests
{
    private const int PathsPerSeed = 500;

    private static readonly PathMapping[] Mappings =
    [
        new("outer", "Mandalore", "W:\\", "/mnt/Mandalore", "/Volumes/Mandalore", true),
        new("inner", "Eliot", "W:\\Projects\\Eliot", "/mnt/Mandalore/Projects/Eliot", "/Volumes/Mandalore/Projects/Eliot", true),
        new("unc", "Kessel", "\\\\kessel\\renders", "/mnt/Kessel", "/Volumes/Kessel Renders", true),
        new("two-os", "Dagobah", "Z:\\Projects", "/srv/dagobah/projects", "", true),
        new("posix-only", "Scratch", "", "/scratch/Team", "/Users/Shared/scratch", true),
    ];

    private static readonly PathTranslator Translator = new(Mappings);

    private static readonly string[] Names =
        ["Projects", "Eliot", "renders", "shot_010", "v001.png", "Plate Roto", "été", "a.b.c", "(final)", "[v2]", "x-y_z", "über", "#1", "50%", "ﬁle", "A&B", "x'"];

    public static TheoryData<int> Seeds() => [.. Enumerable.Range(1, 8)];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void TranslatingThereAndBackReturnsTheNormalisedPath(int seed)
    {
        // Arrange
        var random = new Random(seed);
        for (var i = 0; i < PathsPerSeed; i++)
        {
            var mapping = Mappings[random.Next(Mappings.Length)];
            var systems = Enum.GetValues<PathOs>().Where(os => mapping.PrefixFor(os).Length > 0).ToArray();
            var source = systems[random.Next(systems.Length)];
            var target = systems.Where(os => os != source).ElementAt(random.Next(systems.Length - 1));
            var segments = Enumerable.Range(0, random.Next(0, 7)).Select(_ => Names[random.Next(Names.Length)]).ToArray();
            var (written, normalised) = Spell(random, mapping.PrefixFor(source), source, segments);

            // Act
            var there = Translator.Translate(written, target);
            var back = Translator.Translate(there.Path, source);

            // Assert
            Assert.Equal(PathTranslationOutcome.Mapped, there.Outcome);
            Assert.DoesNotContain("..", there.Path);
            Assert.Equal(target.UsesPosixPaths, there.Path.StartsWith('/'));
            Assert.True(
                string.Equals(normalised, back.Path, source.UsesPosixPaths ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase),
                $"seed {seed}: '{written}' → {target.WireName} '{there.Path}' → {source.WireName} '{back.Path}', expected '{normalised}'");
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void TranslatingToTheSameOperatingSystemOnlyNormalises(int seed)
    {
        // Arrange
        var random = new Random(seed);
        for (var i = 0; i < PathsPerSeed; i++)
        {
            var mapping = Mappings[random.Next(Mappings.Length)];
            var systems = Enum.GetValues<PathOs>().Where(os => mapping.PrefixFor(os).Length > 0).ToArray();
            var os = systems[random.Next(systems.Length)];
            var segments = Enumerable.Range(0, random.Next(0, 7)).Select(_ => Names[random.Next(Names.Length)]).ToArray();
            var (written, normalised) = Spell(random, mapping.PrefixFor(os), os, segments);

            // Act
            var result = Translator.Translate(written, os);

            // Assert
            Assert.True(
                string.Equals(normalised, result.Path, os.UsesPosixPaths ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase),
                $"seed {seed}: '{written}' → '{result.Path}', expected '{normalised}'");
        }
    }

    // Writes the path the way users do (either separator on Windows, any drive-letter case, repeated and
    // trailing separators, "." and a "name/.." detour) and returns it with its normal form.
    private static (string Written, string Normalised) Spell(Random random, string prefix, PathOs os, string[] segments)
    {
        var windows = !os.UsesPosixPaths;
        var separator = windows && random.Next(2) == 0 ? '/' : windows ? '\\' : '/';
        var written = new StringBuilder(windows ? prefix.TrimEnd('\\').Replace('\\', separator) : prefix);
        if (windows && written.Length >= 2 && written[1] == ':' && random.Next(2) == 0)
        {
            written[0] = char.ToLowerInvariant(written[0]);
        }

        foreach (var segment in segments)
        {
            written.Append(separator);
            switch (random.Next(6))
            {
                case 0:
                    written.Append('.').Append(separator);
                    break;
                case 1:
                    written.Append("detour").Append(separator).Append("..").Append(separator);
                    break;
                case 2:
                    written.Append(separator);
                    break;
            }

            written.Append(segment);
        }

        if (segments.Length == 0 || random.Next(3) == 0)
        {
            written.Append(separator);
        }

        var normalisedPrefix = windows ? prefix.TrimEnd('\\') : prefix;
        var normalised = segments.Length == 0
            ? (normalisedPrefix.EndsWith(':') ? normalisedPrefix + "\\" : normalisedPrefix)
            : normalisedPrefix + (windows ? "\\" : "/") + string.Join(windows ? '\\' : '/', segments);
        return (written.ToString(), normalised);
    }
}
