namespace DirectorsConsole.GalleryService.Project;

/// <summary>The image and video files the project endpoints list, serve and save (API doc 3's list, plus
/// <c>.jpeg</c> and the gallery's <c>.bmp</c>).</summary>
public static class MediaTypes
{
    public const string Image = "image";
    public const string Video = "video";

    private static readonly Dictionary<string, (string ContentType, string Kind)> ByExtension = new(StringComparer.OrdinalIgnoreCase)
    {
        [".png"] = ("image/png", Image),
        [".jpg"] = ("image/jpeg", Image),
        [".jpeg"] = ("image/jpeg", Image),
        [".webp"] = ("image/webp", Image),
        [".gif"] = ("image/gif", Image),
        [".bmp"] = ("image/bmp", Image),
        [".mp4"] = ("video/mp4", Video),
        [".mov"] = ("video/quicktime", Video),
        [".avi"] = ("video/x-msvideo", Video),
        [".webm"] = ("video/webm", Video),
        [".mkv"] = ("video/x-matroska", Video),
    };

    public static IReadOnlyCollection<string> Extensions => ByExtension.Keys;

    public static bool IsMedia(string path) => ByExtension.ContainsKey(Path.GetExtension(path));

    public static string? ContentTypeOf(string path) => ByExtension.TryGetValue(Path.GetExtension(path), out var type) ? type.ContentType : null;

    public static string? KindOf(string path) => ByExtension.TryGetValue(Path.GetExtension(path), out var type) ? type.Kind : null;
}
