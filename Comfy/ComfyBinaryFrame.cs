using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace DirectorsConsole.Comfy;

/// <summary>
/// A binary WebSocket frame (reference A.6): 4-byte big-endian event type, then
/// 1 PREVIEW_IMAGE: 4-byte format (1 JPEG, 2 PNG) + image;
/// 3 TEXT: 4-byte node-id length, node id, text;
/// 4 PREVIEW_IMAGE_WITH_METADATA: 4-byte metadata length, metadata JSON (<c>prompt_id</c>, <c>node_id</c>,
/// <c>image_type</c>…), image.
/// </summary>
public sealed record ComfyBinaryFrame(int EventType, ReadOnlyMemory<byte> Payload)
{
    public const int PreviewImage = 1;
    public const int Text = 3;
    public const int PreviewImageWithMetadata = 4;

    /// <summary>The whole frame as the node sent it (header included), for a relay that passes it on unchanged.</summary>
    public ReadOnlyMemory<byte> Raw { get; init; }

    /// <summary>The image's MIME type for preview frames; null when the format is unknown.</summary>
    public string? MimeType { get; init; }

    /// <summary>Only frames of type 4 name their prompt; type 1 belongs to whatever runs on the socket.</summary>
    public string? PromptId { get; init; }

    public string? NodeId { get; init; }

    public string? TextContent { get; init; }

    public static bool TryParse(ReadOnlyMemory<byte> frame, out ComfyBinaryFrame? parsed)
    {
        parsed = null;
        var span = frame.Span;
        if (span.Length < 8)
        {
            return false;
        }

        var eventType = (int)BinaryPrimitives.ReadUInt32BigEndian(span);
        var word = BinaryPrimitives.ReadUInt32BigEndian(span[4..]);
        switch (eventType)
        {
            case PreviewImage:
                parsed = new ComfyBinaryFrame(eventType, frame[8..]) { MimeType = FormatToMime(word), Raw = frame };
                return true;
            case Text when word <= (uint)(span.Length - 8):
                var nodeLength = (int)word;
                parsed = new ComfyBinaryFrame(eventType, frame[(8 + nodeLength)..])
                {
                    Raw = frame,
                    NodeId = Encoding.UTF8.GetString(span.Slice(8, nodeLength)),
                    TextContent = Encoding.UTF8.GetString(span[(8 + nodeLength)..]),
                };
                return true;
            case PreviewImageWithMetadata when word <= (uint)(span.Length - 8):
                var metadataLength = (int)word;
                JsonNode? metadata;
                try
                {
                    metadata = JsonNode.Parse(span.Slice(8, metadataLength));
                }
                catch (System.Text.Json.JsonException)
                {
                    return false;
                }

                parsed = new ComfyBinaryFrame(eventType, frame[(8 + metadataLength)..])
                {
                    Raw = frame,
                    MimeType = (string?)metadata?["image_type"] ?? "image/png",
                    PromptId = (string?)metadata?["prompt_id"],
                    NodeId = (string?)metadata?["node_id"],
                };
                return true;
            default:
                return false;
        }
    }

    // Codes 3–7 come from SwarmUI's own nodes; they are accepted because the frame is otherwise the same.
    private static string? FormatToMime(uint format) => format switch
    {
        1 => "image/jpeg",
        2 => "image/png",
        3 => "image/webp",
        4 => "image/gif",
        _ => null,
    };
}
