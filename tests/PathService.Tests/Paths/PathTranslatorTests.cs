using DirectorsConsole.ServiceDefaults.Paths;

namespace DirectorsConsole.PathService.Tests.Paths;

public sealed class PathTranslatorTests
{
    private static readonly PathMapping Mandalore = new("m1", "Mandalore", "W:\\", "/mnt/Mandalore", "/Volumes/Mandalore", true);
    private static readonly PathMapping Kessel = new("m2", "Kessel", "\\\\kessel\\renders", "/mnt/Kessel", "/Volumes/Kessel", true);
    private static readonly PathMapping Dagobah = new("m3", "Dagobah", "Z:\\Projects", "/srv/dagobah/projects", "", true);

    private static readonly PathTranslator Translator = new([Mandalore, Kessel, Dagobah]);

    [Theory]
    [InlineData("W:\\VFX\\Eliot\\renders", PathOs.Linux, "/mnt/Mandalore/VFX/Eliot/renders")]
    [InlineData("W:\\VFX\\Eliot\\renders", PathOs.Macos, "/Volumes/Mandalore/VFX/Eliot/renders")]
    [InlineData("/mnt/Mandalore/VFX/Eliot", PathOs.Windows, "W:\\VFX\\Eliot")]
    [InlineData("/mnt/Mandalore/VFX/Eliot", PathOs.Macos, "/Volumes/Mandalore/VFX/Eliot")]
    [InlineData("/Volumes/Mandalore/VFX/Eliot", PathOs.Windows, "W:\\VFX\\Eliot")]
    [InlineData("/Volumes/Mandalore/VFX/Eliot", PathOs.Linux, "/mnt/Mandalore/VFX/Eliot")]
    [InlineData("W:/VFX/Eliot", PathOs.Linux, "/mnt/Mandalore/VFX/Eliot")]
    [InlineData("W:\\", PathOs.Linux, "/mnt/Mandalore")]
    [InlineData("/mnt/Mandalore", PathOs.Windows, "W:\\")]
    [InlineData("Z:\\Projects\\Eliot\\shot_010", PathOs.Linux, "/srv/dagobah/projects/Eliot/shot_010")]
    [InlineData("/srv/dagobah/projects/Eliot", PathOs.Windows, "Z:\\Projects\\Eliot")]
    public void TranslatesBetweenEveryPairOfOperatingSystems(string path, PathOs target, string expected)
    {
        // Act
        var result = Translator.Translate(path, target);

        // Assert
        Assert.Equal(expected, result.Path);
        Assert.Equal(PathTranslationOutcome.Mapped, result.Outcome);
        Assert.NotNull(result.Mapping);
    }

    [Theory]
    [InlineData("\\\\kessel\\renders\\shot_010\\v001.png")]
    [InlineData("//kessel/renders/shot_010/v001.png")]
    [InlineData("\\\\KESSEL\\Renders\\shot_010\\v001.png")]
    public void TranslatesUncPathsInBothSpellings(string path)
    {
        // Act
        var result = Translator.Translate(path, PathOs.Linux);

        // Assert
        Assert.Equal("/mnt/Kessel/shot_010/v001.png", result.Path);
        Assert.Equal(PathForm.WindowsUnc, result.SourceForm);
        Assert.Equal(PathOs.Windows, result.SourceOs);
    }

    [Fact]
    public void TranslatesPosixPathsToUncShares()
    {
        // Act
        var result = Translator.Translate("/Volumes/Kessel/shot_010/", PathOs.Windows);

        // Assert
        Assert.Equal("\\\\kessel\\renders\\shot_010", result.Path);
        Assert.Equal(PathOs.Macos, result.SourceOs);
    }

    [Fact]
    public void TranslatesTheRootOfAUncShareWithoutATrailingSeparator()
    {
        // Act
        var result = Translator.Translate("/mnt/Kessel", PathOs.Windows);

        // Assert
        Assert.Equal("\\\\kessel\\renders", result.Path);
    }

    [Theory]
    [InlineData("w:\\VFX")]
    [InlineData("W:\\VFX")]
    [InlineData("w:/VFX")]
    public void MatchesDriveLettersWithoutRegardToCase(string path)
    {
        // Act
        var result = Translator.Translate(path, PathOs.Linux);

        // Assert
        Assert.Equal("/mnt/Mandalore/VFX", result.Path);
    }

    [Fact]
    public void MatchesWindowsFoldersWithoutRegardToCase()
    {
        // Act
        var result = Translator.Translate("z:\\PROJECTS\\Eliot", PathOs.Linux);

        // Assert
        Assert.Equal("/srv/dagobah/projects/Eliot", result.Path);
    }

    [Theory]
    [InlineData("/mnt/mandalore/VFX")]
    [InlineData("/MNT/Mandalore/VFX")]
    [InlineData("/volumes/Mandalore/VFX")]
    public void MatchesPosixPathsCaseSensitively(string path)
    {
        // Act
        var result = Translator.Translate(path, PathOs.Windows);

        // Assert
        Assert.Equal(PathTranslationOutcome.NoMapping, result.Outcome);
        Assert.Null(result.Mapping);
        Assert.Equal(path, result.Path);
    }

    [Theory]
    [InlineData("/mnt/Mandalore2/x")]
    [InlineData("/mnt/Mandalore.old")]
    [InlineData("/mnt/MandaloreX/y/z")]
    public void MatchesWholeFoldersOnly(string path)
    {
        // Act
        var result = Translator.Translate(path, PathOs.Windows);

        // Assert
        Assert.Equal(PathTranslationOutcome.NoMapping, result.Outcome);
    }

    [Fact]
    public void MatchesUncSharesAsWholeNames()
    {
        // Act
        var result = Translator.Translate("\\\\kessel\\renders2\\x", PathOs.Linux);

        // Assert
        Assert.Equal(PathTranslationOutcome.NoMapping, result.Outcome);
        Assert.Equal("\\\\kessel\\renders2\\x", result.Path);
    }

    [Theory]
    [InlineData("/mnt/a/b/c", "B:\\c")]
    [InlineData("/mnt/a/bb/c", "A:\\bb\\c")]
    [InlineData("/mnt/a/c", "A:\\c")]
    [InlineData("/mnt/a/b", "B:\\")]
    public void LongestMatchingPrefixWinsWhateverTheOrder(string path, string expected)
    {
        // Arrange
        var outer = new PathMapping("a", "A", "A:\\", "/mnt/a", "", true);
        var inner = new PathMapping("b", "B", "B:\\", "/mnt/a/b", "", true);
        var forward = new PathTranslator([outer, inner]);
        var backward = new PathTranslator([inner, outer]);

        // Act
        var first = forward.Translate(path, PathOs.Windows);
        var second = backward.Translate(path, PathOs.Windows);

        // Assert
        Assert.Equal(expected, first.Path);
        Assert.Equal(expected, second.Path);
    }

    [Fact]
    public void LongestPrefixIsChosenAcrossTheOperatingSystemsOfDifferentMappings()
    {
        // Arrange: one mapping knows the folder from its Linux side, the other from its macOS side.
        var broad = new PathMapping("a", "Broad", "A:\\", "/data", "", true);
        var narrow = new PathMapping("b", "Narrow", "B:\\", "", "/data/shots", true);
        var translator = new PathTranslator([broad, narrow]);

        // Act
        var result = translator.Translate("/data/shots/010", PathOs.Windows);

        // Assert
        Assert.Equal("B:\\010", result.Path);
        Assert.Equal(PathOs.Macos, result.SourceOs);
    }

    [Fact]
    public void IgnoresDisabledMappings()
    {
        // Arrange
        var translator = new PathTranslator([Mandalore with { Enabled = false }]);

        // Act
        var result = translator.Translate("W:\\VFX", PathOs.Linux);

        // Assert
        Assert.Equal(PathTranslationOutcome.NoMapping, result.Outcome);
        Assert.Equal("W:\\VFX", result.Path);
    }

    [Fact]
    public void SkipsMappingsWithoutAPrefixForTheTarget()
    {
        // Arrange: Dagobah has no macOS prefix, so a macOS target falls back to the shorter Mandalore-like mapping.
        var broad = new PathMapping("z", "Z drive", "Z:\\", "/srv/z", "/Volumes/Z", true);
        var translator = new PathTranslator([broad, Dagobah]);

        // Act
        var result = translator.Translate("Z:\\Projects\\Eliot", PathOs.Macos);

        // Assert
        Assert.Equal("/Volumes/Z/Projects/Eliot", result.Path);
        Assert.Equal("z", result.Mapping!.Id);
    }

    [Theory]
    [InlineData("/mnt/Mandalore/VFX/", "W:\\VFX")]
    [InlineData("/mnt/Mandalore//VFX///", "W:\\VFX")]
    [InlineData("/mnt/Mandalore/./VFX/.", "W:\\VFX")]
    [InlineData("/mnt/Mandalore/", "W:\\")]
    public void NormalisesTrailingAndRepeatedSeparators(string path, string expected)
    {
        // Act
        var result = Translator.Translate(path, PathOs.Windows);

        // Assert
        Assert.Equal(expected, result.Path);
    }

    [Theory]
    [InlineData("W:\\VFX\\", "/mnt/Mandalore/VFX")]
    [InlineData("W:/", "/mnt/Mandalore")]
    [InlineData("W:", "/mnt/Mandalore")]
    public void NormalisesWindowsInput(string path, string expected)
    {
        // Act
        var result = Translator.Translate(path, PathOs.Linux);

        // Assert
        Assert.Equal(expected, result.Path);
    }

    [Theory]
    [InlineData("W:\\VFX\\old\\..\\Eliot", PathOs.Linux, "/mnt/Mandalore/VFX/Eliot")]
    [InlineData("/mnt/Mandalore/VFX/../Eliot", PathOs.Windows, "W:\\Eliot")]
    [InlineData("/mnt/Kessel/a/b/../../c", PathOs.Windows, "\\\\kessel\\renders\\c")]
    public void ResolvesParentSegmentsBeforeMatching(string path, PathOs target, string expected)
    {
        // Act
        var result = Translator.Translate(path, target);

        // Assert
        Assert.Equal(expected, result.Path);
        Assert.DoesNotContain("..", result.Path);
    }

    [Fact]
    public void ParentSegmentsCannotStepOutOfAMappedFolder()
    {
        // Act
        var result = Translator.Translate("/mnt/Mandalore/../etc/passwd", PathOs.Windows);

        // Assert
        Assert.Equal(PathTranslationOutcome.NoMapping, result.Outcome);
        Assert.Null(result.Mapping);
    }

    [Fact]
    public void ParentSegmentsCannotLeaveAMappedFolderForASiblingMapping()
    {
        // Act: the resolved path is /mnt/Kessel/x, so Kessel's prefix applies, not Mandalore's.
        var result = Translator.Translate("/mnt/Mandalore/../Kessel/x", PathOs.Windows);

        // Assert
        Assert.Equal("\\\\kessel\\renders\\x", result.Path);
        Assert.Equal("m2", result.Mapping!.Id);
    }

    [Theory]
    [InlineData("/..")]
    [InlineData("/mnt/../../etc")]
    [InlineData("W:\\..\\Windows")]
    [InlineData("\\\\kessel\\renders\\..\\other")]
    public void RejectsParentSegmentsAboveTheRoot(string path)
    {
        // Act
        var error = Assert.Throws<PathTranslationException>(() => Translator.Translate(path, PathOs.Linux));

        // Assert
        Assert.Contains("climbs above the root", error.Reason);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("/mnt/a\0b", "NUL")]
    [InlineData("/mnt/a\nb", "control character")]
    [InlineData("foo/bar", "relative")]
    [InlineData("./foo", "relative")]
    [InlineData("~/renders", "relative")]
    [InlineData("C:/x\\..", "mixes")]
    [InlineData("/mnt/a\\b", "mixes")]
    [InlineData("\\\\server", "no share")]
    [InlineData("\\\\server\\", "no share")]
    [InlineData("//server", "no share")]
    [InlineData("\\\\?\\C:\\x", "device paths")]
    [InlineData("W:\\a<b", "does not allow")]
    [InlineData("W:\\a\\b:c", "does not allow")]
    [InlineData("W:\\what?", "does not allow")]
    [InlineData("W:\\a|b\\c", "does not allow")]
    [InlineData("C:folder", "current folder of drive")]
    [InlineData("\\Windows", "root of the current drive")]
    public void RejectsMalformedPathsWithAReason(string path, string reason)
    {
        // Act
        var error = Assert.Throws<PathTranslationException>(() => Translator.Translate(path, PathOs.Linux));

        // Assert
        Assert.Contains(reason, error.Reason);
        Assert.Equal(path, error.Path);
    }

    [Fact]
    public void RejectsOverLongPaths()
    {
        // Arrange
        var path = "/mnt/" + new string('a', 4096);

        // Act
        var error = Assert.Throws<PathTranslationException>(() => Translator.Translate(path, PathOs.Windows));

        // Assert
        Assert.Contains("longer than 4096", error.Reason);
    }

    [Fact]
    public void RejectsPosixNamesThatWindowsCannotHold()
    {
        // Act
        var error = Assert.Throws<PathTranslationException>(() => Translator.Translate("/mnt/Mandalore/a:b", PathOs.Windows));

        // Assert
        Assert.Contains("no Windows form", error.Reason);
    }

    [Fact]
    public void KeepsPosixNamesWithColonsBetweenPosixSystems()
    {
        // Act
        var result = Translator.Translate("/mnt/Mandalore/12:30 take", PathOs.Macos);

        // Assert
        Assert.Equal("/Volumes/Mandalore/12:30 take", result.Path);
    }

    [Theory]
    [InlineData("/home/ana//shots/", PathOs.Linux, "/home/ana/shots")]
    [InlineData("/home/ana/shots", PathOs.Macos, "/home/ana/shots")]
    [InlineData("c:/Users/ana/", PathOs.Windows, "C:\\Users\\ana")]
    [InlineData("//nas/share/x/", PathOs.Windows, "\\\\nas\\share\\x")]
    public void ReturnsUnmappedPathsNormalisedWhenAlreadyInTheTargetForm(string path, PathOs target, string expected)
    {
        // Act
        var result = Translator.Translate(path, target);

        // Assert
        Assert.Equal(PathTranslationOutcome.AlreadyInTargetForm, result.Outcome);
        Assert.Equal(expected, result.Path);
        Assert.Null(result.Mapping);
    }

    [Theory]
    [InlineData("/home/ana/shots", PathOs.Windows)]
    [InlineData("C:\\Users\\ana", PathOs.Linux)]
    [InlineData("\\\\nas\\share\\x", PathOs.Macos)]
    public void ReturnsUnmappedPathsOfAnotherOperatingSystemUnchanged(string path, PathOs target)
    {
        // Act
        var result = Translator.Translate(path, target);

        // Assert
        Assert.Equal(PathTranslationOutcome.NoMapping, result.Outcome);
        Assert.Equal(path, result.Path);
    }

    [Fact]
    public void ReportsNoSourceOperatingSystemForAnUnmappedPosixPath()
    {
        // Act
        var result = Translator.Translate("/home/ana", PathOs.Windows);

        // Assert
        Assert.Null(result.SourceOs);
        Assert.Equal(PathForm.Posix, result.SourceForm);
    }

    [Fact]
    public void LeavesAPathOnItsOwnOperatingSystemWhereItIs()
    {
        // Arrange: Linux and macOS share a prefix; the target's own prefix wins the tie.
        var same = new PathMapping("s", "Same", "S:\\", "/shared", "/shared", true);
        var translator = new PathTranslator([same]);

        // Act
        var result = translator.Translate("/shared/x", PathOs.Macos);

        // Assert
        Assert.Equal("/shared/x", result.Path);
        Assert.Equal(PathOs.Macos, result.SourceOs);
    }

    [Fact]
    public void ReportsAndIgnoresMalformedStoredPrefixes()
    {
        // Arrange
        var broken = new PathMapping("x", "Broken", "/not/windows", "relative/path", "/Volumes/B", true);

        // Act
        var translator = new PathTranslator([broken, Mandalore]);

        // Assert
        Assert.Equal(2, translator.Problems.Count);
        Assert.Equal(PathTranslationOutcome.NoMapping, translator.Translate("/Volumes/B/x", PathOs.Windows).Outcome);
        Assert.Equal("/mnt/Mandalore/x", translator.Translate("W:\\x", PathOs.Linux).Path);
    }

    [Fact]
    public void ToLocalTranslatesForTheCurrentOperatingSystem()
    {
        // Act
        var result = Translator.ToLocal("W:\\VFX");

        // Assert
        Assert.Equal(PathOs.Current, result.Target);
        Assert.Equal(Translator.Translate("W:\\VFX", PathOs.Current).Path, result.Path);
    }

    [Fact]
    public void EmptyTranslatorMapsNothing()
    {
        // Act
        var result = PathTranslator.Empty.Translate("W:\\VFX", PathOs.Linux);

        // Assert
        Assert.Equal(PathTranslationOutcome.NoMapping, result.Outcome);
    }

    [Theory]
    [InlineData("windows", PathOs.Windows)]
    [InlineData("WIN", PathOs.Windows)]
    [InlineData("linux", PathOs.Linux)]
    [InlineData(" Linux ", PathOs.Linux)]
    [InlineData("macos", PathOs.Macos)]
    [InlineData("Darwin", PathOs.Macos)]
    [InlineData("mac", PathOs.Macos)]
    [InlineData("OSX", PathOs.Macos)]
    public void ParsesOperatingSystemNamesAndAliases(string name, PathOs expected)
    {
        // Act
        var parsed = PathOs.TryParseName(name, out var os);

        // Assert
        Assert.True(parsed);
        Assert.Equal(expected, os);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("beos")]
    public void RejectsUnknownOperatingSystemNames(string? name)
    {
        // Act
        var parsed = PathOs.TryParseName(name, out _);

        // Assert
        Assert.False(parsed);
    }
}
