namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>The file kinds the gallery shows (the original's media list plus <c>.bmp</c>).</summary>
public static class MediaTypes
{
    public const string Image = "image";
    public const string Video = "video";
    public const string Other = "other";

    /// <summary>The name of the folder that holds gallery.json and the trash; never listed.</summary>
    public const string GalleryFolder = ".gallery";

    private static readonly HashSet<string> ImageExtensions = new([".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"], StringComparer.OrdinalIgnoreCase);
    private static readonly HashSet<string> VideoExtensions = new([".mp4", ".mov", ".avi", ".webm", ".mkv"], StringComparer.OrdinalIgnoreCase);

    public static string TypeOf(ReadOnlySpan<char> fileName)
    {
        var extension = Path.GetExtension(fileName).ToString();
        return ImageExtensions.Contains(extension) ? Image : VideoExtensions.Contains(extension) ? Video : Other;
    }

    public static bool IsMedia(ReadOnlySpan<char> fileName) => TypeOf(fileName) != Other;

    public static bool IsPng(ReadOnlySpan<char> fileName) => Path.GetExtension(fileName).Equals(".png", StringComparison.OrdinalIgnoreCase);

    /// <summary>Hidden names (dot files, the gallery folder, the original's <c>.trash</c>) are never listed or walked.</summary>
    public static bool IsHidden(ReadOnlySpan<char> name) => name.Length > 0 && name[0] == '.';

    /// <summary>The <c>.json</c> file beside a media file that carries its generation data (<c>a.png</c> → <c>a.json</c>).</summary>
    public static string SidecarOf(string fullPath) => Path.ChangeExtension(fullPath, ".json");
}
