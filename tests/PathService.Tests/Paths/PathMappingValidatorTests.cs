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

    [Theory]
    [InlineData(null, "missing")]
    [InlineData("", "value_error")]
    [InlineData("   ", "value_error")]
    public void RequiresAName(string? name, string type)
    {
        // Act
        var result = PathMappingValidator.Validate(name, "W:\\", "/mnt/w", null);

        // Assert
        var error = Assert.Single(result.Errors);
        Assert.Equal("name", error.Field);
        Assert.Equal(type, error.Type);
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
    [InlineData("W:\\", "", "")]
    [InlineData("", "/mnt/w", null)]
    [InlineData(null, null, "  ")]
    public void RequiresPrefixesForAtLeastTwoOperatingSystems(string? windows, string? linux, string? macos)
    {
        // Act
        var result = PathMappingValidator.Validate("W", windows, linux, macos);

        // Assert
        var error = Assert.Single(result.Errors);
        Assert.Null(error.Field);
        Assert.Contains("at least two", error.Message);
    }

    [Theory]
    [InlineData("/mnt/w", "/mnt/w", "", "windows")]
    [InlineData("W:\\", "W:\\", "", "linux")]
    [InlineData("W:\\", "/mnt/w", "Volumes/w", "macos")]
    [InlineData("W:\\a\\..\\b", "/mnt/w", "", "windows")]
    [InlineData("W:\\", "/mnt/w/../x", "", "linux")]
    [InlineData("W:\\a?", "/mnt/w", "", "windows")]
    [InlineData("\\\\server", "/mnt/w", "", "windows")]
    public void RejectsPrefixesOfTheWrongFormForTheirOperatingSystem(string windows, string linux, string macos, string field)
    {
        // Act
        var result = PathMappingValidator.Validate("W", windows, linux, macos);

        // Assert
        var error = Assert.Single(result.Errors);
        Assert.Equal(field, error.Field);
        Assert.Equal("value_error", error.Type);
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
