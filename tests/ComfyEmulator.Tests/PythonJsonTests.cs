using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Json;
using DirectorsConsole.ComfyEmulator.Queue;

namespace DirectorsConsole.ComfyEmulator.Tests;

public sealed class PythonJsonTests
{
    [Theory]
    [InlineData(0.0, "0.0")]
    [InlineData(1.0, "1.0")]
    [InlineData(0.4, "0.4")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(1e16, "1e+16")]
    [InlineData(123456789012345.0, "123456789012345.0")]
    [InlineData(1795333467.7425869, "1795333467.7425869")]
    public void FloatsAreWrittenAsPythonsRepr(double value, string expected) => Assert.Equal(expected, PythonFloat.Repr(value));

    [Fact]
    public void DocumentsUsePythonSeparatorsEscapesAndKeepIntsApartFromFloats()
    {
        var parsed = JsonNode.Parse("""{"a":1,"b":[1.0,2.50,1e2],"c":"é\"\n","d":null,"e":true}""");
        Assert.Equal("""{"a": 1, "b": [1.0, 2.5, 100.0], "c": "\u00e9\"\n", "d": null, "e": true}""", PythonJson.Serialize(parsed));
        Assert.Equal("""{"f": 0.0, "i": 0}""", PythonJson.Serialize(new JsonObject { ["f"] = 0.0, ["i"] = 0 }));
    }

    [Fact]
    public void PendingPromptsKeepPythonsHeapOrder()
    {
        var heap = new PromptHeap();
        long sequence = 0;
        foreach (var number in new[] { 5, 3, 8, 1, 9, 2 })
        {
            heap.Push(new QueueItem(JsonValue.Create(number), $"p{number}", [], [], [], sequence++));
        }
        // heapq.heappush of 5, 3, 8, 1, 9, 2 leaves [1, 3, 2, 5, 9, 8].
        Assert.Equal(["p1", "p3", "p2", "p5", "p9", "p8"], heap.RawOrder.Select(i => i.PromptId));
        Assert.Equal(["p1", "p2", "p3", "p5", "p8", "p9"], Enumerable.Range(0, 6).Select(_ => heap.Pop().PromptId));
    }
}
