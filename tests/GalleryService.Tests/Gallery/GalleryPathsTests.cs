using DirectorsConsole.GalleryService.Gallery;

namespace DirectorsConsole.GalleryService.Tests.Gallery;

/// <summary>gallery.json keys: the quick cut of a path a walk built gives what Path.GetRelativePath gives.</summary>
public sealed class GalleryPathsTests
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "Eliot");

    [Theory]
    [InlineData("Panel_01/shot_a.png")]
    [InlineData("shot.png")]
    [InlineData("Panel_01/Take_2/Alt/render 00001.png")]
    [InlineData("Panel_01/../shot.png")]
    [InlineData("Panel_01/./shot.png")]
    [InlineData("Panel_01//shot.png")]
    [InlineData("Panel_01/")]
    [InlineData("..")]
    [InlineData("../Eliot2/shot.png")]
    [InlineData("")]
    public void KeyOfIsThePathRelativeToTheProjectWithSlashes(string relative)
    {
        // Arrange
        var fullPath = relative.Length == 0 ? Root : Root + Path.DirectorySeparatorChar + relative.Replace('/', Path.DirectorySeparatorChar);

        // Act
        var key = GalleryPaths.KeyOf(Root, fullPath);

        // Assert
        Assert.Equal(Path.GetRelativePath(Root, fullPath).Replace('\\', '/'), key);
    }
}
