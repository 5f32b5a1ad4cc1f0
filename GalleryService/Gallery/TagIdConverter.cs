using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>Tag ids are strings inside this service (the keys of gallery.json's <c>tags</c>) and integers on the wire,
/// as the original sent and the original web app sends them back. A numeric id is written as a number (any other as a
/// string); a number or a string is read.</summary>
public sealed class TagIdConverter : JsonConverter<string>
{
    public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.Number when reader.TryGetInt64(out var number) => number.ToString(CultureInfo.InvariantCulture),
            JsonTokenType.String => reader.GetString()!,
            _ => throw new JsonException("A tag id is an integer."),
        };

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options)
    {
        if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            writer.WriteNumberValue(number);
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}
