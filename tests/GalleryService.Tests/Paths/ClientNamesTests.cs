using DirectorsConsole.GalleryService.Paths;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Paths;

public sealed class ClientNamesTests
{
    [Theory]
    [InlineData("Panel_01")]
    [InlineData("Eliot_Panel01_v001.png")]
    [InlineData("a.b.c")]
    [InlineData("Ünïcode ✓")]
    [InlineData("CONSOLE")]
    public void AcceptsOrdinaryNames(string name)
    {
        // Act
        var accepted = ClientNames.Validate(name, "name");

        // Assert
        Assert.Equal(name, accepted);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData("CON")]
    [InlineData("con.txt")]
    [InlineData("COM1.png")]
    [InlineData("LPT9")]
    [InlineData("nul")]
    [InlineData("trailing.")]
    [InlineData("trailing ")]
    [InlineData(" leading")]
    [InlineData("a\u0000b")]
    [InlineData("tab\there")]
    [InlineData("what?")]
    [InlineData("a:b")]
    [InlineData("pipe|")]
    public void RefusesNamesThatAreNotOneSafeSegment(string? name)
    {
        // Act
        var error = Record.Exception(() => ClientNames.Validate(name, "folderName"));

        // Assert
        var invalid = Assert.IsType<InvalidClientPathException>(error);
        Assert.Equal("folderName", invalid.Field);
        Assert.Contains("folderName", invalid.Message, StringComparison.Ordinal);
        Assert.Equal(InvalidClientPathException.Body, invalid.Location);
        Assert.Equal(name, (string?)invalid.Input);
    }

    [Fact]
    public void RefusesNamesLongerThan255Bytes()
    {
        // Arrange
        var name = new string('é', 128); // 256 bytes in UTF-8

        // Act
        var error = Record.Exception(() => ClientNames.Validate(name, "filename"));

        // Assert
        Assert.IsType<InvalidClientPathException>(error);
    }
}
