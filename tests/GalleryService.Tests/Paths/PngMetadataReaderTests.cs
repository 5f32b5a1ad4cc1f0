using DirectorsConsole.GalleryService.Paths;
using DirectorsConsole.Testing;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Paths;

public sealed class PngMetadataReaderTests
{
    [Fact]
    public void ReadsTextCompressedTextAndInternationalText()
    {
        // Arrange
        var png = TestPng.Create([
            TestPng.Text("prompt", """{"1":{"class_type":"SaveImage"}}"""),
            TestPng.CompressedText("workflow", """{"nodes":[1,2,3]}"""),
            TestPng.InternationalText("parameters", "ein Hund, Steps: 20 — ✓", compressed: false),
            TestPng.InternationalText("comment", "zipped ünïcode", compressed: true)]);

        // Act
        var text = PngMetadataReader.Read(new MemoryStream(png));

        // Assert
        Assert.Equal("""{"1":{"class_type":"SaveImage"}}""", text["prompt"]);
        Assert.Equal("""{"nodes":[1,2,3]}""", text["workflow"]);
        Assert.Equal("ein Hund, Steps: 20 — ✓", text["parameters"]);
        Assert.Equal("zipped ünïcode", text["comment"]);
    }

    [Fact]
    public void StopsAtTheImageData()
    {
        // Arrange
        var png = TestPng.Create([TestPng.Text("prompt", "before")], [TestPng.Text("late", "after")]);

        // Act
        var text = PngMetadataReader.Read(new NonSeekableStream(png));

        // Assert
        Assert.Equal("before", text["prompt"]);
        Assert.False(text.ContainsKey("late"));
    }

    [Fact]
    public void RefusesAFileThatIsNotAPng()
    {
        // Arrange
        var notPng = "GIF89a not a png"u8.ToArray();

        // Act
        var error = Record.Exception(() => PngMetadataReader.Read(new MemoryStream(notPng)));

        // Assert
        Assert.IsType<InvalidDataException>(error);
    }

    [Fact]
    public void ADamagedCompressedChunkIsInvalidData()
    {
        // Arrange
        var png = TestPng.Create([("zTXt", [.. "prompt"u8, 0, 0, 1, 2, 3, 4, 5])]);

        // Act
        var error = Record.Exception(() => PngMetadataReader.Read(new MemoryStream(png)));

        // Assert
        Assert.IsType<InvalidDataException>(error);
    }

    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;

        public override long Seek(long offset, SeekOrigin loc) => throw new NotSupportedException();
    }
}
