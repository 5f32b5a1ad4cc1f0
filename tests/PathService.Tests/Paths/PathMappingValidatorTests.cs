using DirectorsConsole.ServiceDefaults.Paths;

namespace DirectorsConsole.PathService.Tests.Paths;

public sealed class PathMappingValidatorTests
{
    [Fact]
    public void AcceptsAMappingAndNormalisesItsPrefixes()
    {
        // Act
        var result = PathMappingValidator.Validate("  Mandalore ", "w:/", "/mnt/Mandalore/", "");

        // Assert
        Assert.True(result.IsValid);
        Assert.Equal("Mandalore", result.Name);
        Assert.Equal("W:\\", result.Windows);
        Assert.Equal("/mnt/Mandalore", result.Linux);
        Assert.Equal(string.Empty, result.Macos);
    }

    [Fact]
    public void RequiresANameButAcceptsAnEmptyOne()
    {
        // Act
        var missing = PathMappingValidator.Validate(null, "W:\\", "/mnt/w", null);
        var empty = PathMappingValidator.Validate("  ", "", "", "");

        // Assert
        var error = Assert.Single(missing.Errors);
        Assert.Equal("name", error.Field);
        Assert.Equal("missing", error.Type);
        Assert.True(empty.IsValid);
        Assert.Equal(string.Empty, empty.Name);
    }

    [Fact]
    public void RejectsNamesLongerThanTwoHundredCharacters()
    {
        // Act
        var result = PathMappingValidator.Validate(new string('n', 201), "W:\\", "/mnt/w", null);

        // Assert
        Assert.Equal("name", Assert.Single(result.Errors).Field);
    }

    [Theory]
    [InlineData("W", "", "", "W", "")]
    [InlineData("", "/mnt/Man", null, "", "/mnt/Man")]
    [InlineData("W:\\a\\..\\b", "mnt", "", "W:\\a\\..\\b", "mnt")]
    [InlineData("/mnt/w", "W:\\", "", "/mnt/w", "W:\\")]
    public void KeepsHalfTypedPrefixesAsTypedForTranslationToIgnore(string windows, string? linux, string? macos, string storedWindows, string storedLinux)
    {
        // Act
        var result = PathMappingValidator.Validate("Mapping 1", windows, linux, macos);

        // Assert
        Assert.True(result.IsValid);
        Assert.Equal(storedWindows, result.Windows);
        Assert.Equal(storedLinux, result.Linux);
        Assert.Equal(string.Empty, result.Macos);
    }

    [Fact]
    public void RejectsPrefixesLongerThanAnyPath()
    {
        // Act
        var result = PathMappingValidator.Validate("W", "W:\\" + new string('a', 4096), "/mnt/w", null);

        // Assert
        Assert.Equal("windows", Assert.Single(result.Errors).Field);
    }

    [Theory]
    [InlineData(PathOs.Windows, "/mnt/w")]
    [InlineData(PathOs.Linux, "W:\\")]
    [InlineData(PathOs.Macos, "Volumes/w")]
    [InlineData(PathOs.Windows, "W:\\a\\..\\b")]
    [InlineData(PathOs.Linux, "/mnt/w/../x")]
    [InlineData(PathOs.Windows, "W:\\a?")]
    [InlineData(PathOs.Windows, "\\\\server")]
    public void PrefixesOfTheWrongFormForTheirOperatingSystemAreNotUsable(PathOs os, string prefix)
    {
        // Act
        var problem = PathMappingValidator.PrefixProblem(os, prefix);

        // Assert
        Assert.False(string.IsNullOrEmpty(problem));
    }

    [Fact]
    public void AcceptsUncPrefixesForWindows()
    {
        // Act
        var result = PathMappingValidator.Validate("Kessel", "//kessel/renders/", "/mnt/Kessel", "/Volumes/Kessel");

        // Assert
        Assert.True(result.IsValid);
        Assert.Equal("\\\\kessel\\renders", result.Windows);
    }
}
