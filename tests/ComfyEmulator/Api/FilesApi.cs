using System.Security.Cryptography;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Control;
using DirectorsConsole.ComfyEmulator.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.StaticFiles;

namespace DirectorsConsole.ComfyEmulator.Api;

/// <summary><c>GET /view</c> and <c>POST /upload/image</c> (server.py <c>view_image</c>, <c>image_upload</c>).</summary>
public static class FilesApi
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    /// <summary>Types ComfyUI refuses to serve as themselves, so a browser downloads them instead of running them.</summary>
    private static readonly HashSet<string> ForcedDownloadTypes = ["text/html", "text/html-sandboxed", "application/xhtml+xml", "text/javascript", "text/css"];

    public static RouteGroupBuilder MapFilesApi(this RouteGroupBuilder routes)
    {
        routes.MapGet("/view", GetView);
        routes.MapPost("/upload/image", PostUploadImage).DisableAntiforgery();
        return routes;
    }

    /// <summary>
    /// Serves a file from output/input/temp: 400 for a filename with <c>..</c> or a leading <c>/</c>, 403 for a
    /// subfolder outside the folder, 404 (empty body) when missing; <c>Content-Disposition: filename="…"</c>.
    /// A <c>name.png [output]</c> annotation picks the folder as in ComfyUI.
    /// </summary>
    public static Results<PhysicalFileHttpResult, ContentHttpResult> GetView(HttpContext context, ComfyFolders folders, EmulatorKnobs knobs)
    {
        var query = context.Request.Query;
        if (!query.TryGetValue("filename", out var requested)) return ComfyResults.Empty(StatusCodes.Status404NotFound);
        var (filename, annotatedDir) = Annotated(requested.ToString(), folders);
        if (filename.Length == 0 || filename[0] == '/' || filename.Contains("..", StringComparison.Ordinal)) return ComfyResults.Empty(StatusCodes.Status400BadRequest);

        var directory = annotatedDir ?? folders.DirectoryForType(query.TryGetValue("type", out var type) ? type.ToString() : "output");
        if (directory is null) return ComfyResults.Empty(StatusCodes.Status400BadRequest);
        if (query.TryGetValue("subfolder", out var subfolder))
        {
            directory = folders.ResolveInside(directory, subfolder.ToString());
            if (directory is null) return ComfyResults.Empty(StatusCodes.Status403Forbidden);
        }

        filename = HostPath.BaseName(filename, knobs.IsNt);
        var file = Path.Combine(directory, filename);
        if (!File.Exists(file)) return ComfyResults.Empty(StatusCodes.Status404NotFound);

        var contentType = ContentTypes.TryGetContentType(filename, out var guessed) && !ForcedDownloadTypes.Contains(guessed) ? guessed : "application/octet-stream";
        context.Response.Headers.ContentDisposition = $"filename=\"{filename}\"";
        return TypedResults.PhysicalFile(file, contentType);
    }

    /// <summary>
    /// Multipart <c>image</c> (+ <c>type</c> input|temp|output, <c>subfolder</c>, <c>overwrite</c>). An existing file
    /// with the same content is reused; a different one makes the name <c>name (1).ext</c>, <c>name (2).ext</c>, ….
    /// </summary>
    public static async Task<ContentHttpResult> PostUploadImage(HttpRequest request, ComfyFolders folders, CancellationToken cancellationToken)
    {
        var form = request.HasFormContentType ? await request.ReadFormAsync(cancellationToken) : null;
        var type = form?["type"].ToString() is { Length: > 0 } given ? given : "input";
        // An unknown type crashes ComfyUI's handler (UnboundLocalError), which aiohttp turns into a 500.
        if (folders.DirectoryForType(type) is not { } uploadDir) return ComfyResults.ServerError();
        var image = form?.Files["image"];
        if (image is null || image.FileName.Length == 0) return ComfyResults.Empty(StatusCodes.Status400BadRequest);

        var subfolder = form!["subfolder"].ToString();
        var folder = folders.ResolveInside(uploadDir, subfolder);
        var filename = image.FileName;
        if (folder is null || folders.ResolveInside(folder, filename) is not { } path || Path.GetDirectoryName(path) != folder)
        {
            return ComfyResults.Empty(StatusCodes.Status400BadRequest);
        }
        Directory.CreateDirectory(folder);

        await using var upload = new MemoryStream();
        await image.CopyToAsync(upload, cancellationToken);
        var content = upload.ToArray();

        var overwrite = form["overwrite"].ToString() is "true" or "1";
        var duplicate = false;
        if (!overwrite)
        {
            var (stem, extension) = SplitExtension(image.FileName);
            for (var i = 1; File.Exists(path); i++)
            {
                if (SHA256.HashData(await File.ReadAllBytesAsync(path, cancellationToken)).AsSpan().SequenceEqual(SHA256.HashData(content)))
                {
                    duplicate = true;
                    break;
                }
                filename = $"{stem} ({i}){extension}";
                path = Path.Combine(folder, filename);
            }
        }
        if (!duplicate) await File.WriteAllBytesAsync(path, content, cancellationToken);
        return ComfyResults.Json(new JsonObject { ["name"] = filename, ["subfolder"] = subfolder, ["type"] = type });
    }

    private static (string Name, string? Directory) Annotated(string name, ComfyFolders folders)
    {
        foreach (var (suffix, directory) in new[] { ("[output]", folders.Output), ("[input]", folders.Input), ("[temp]", folders.Temp) })
        {
            // ComfyUI also cuts the space before the annotation.
            if (name.EndsWith(suffix, StringComparison.Ordinal)) return (name[..Math.Max(0, name.Length - suffix.Length - 1)], directory);
        }
        return (name, null);
    }

    /// <summary>Python's <c>os.path.splitext</c>: leading dots never start an extension.</summary>
    private static (string Stem, string Extension) SplitExtension(string name)
    {
        var dot = name.LastIndexOf('.');
        var start = name.LastIndexOf('/') + 1;
        return dot > start && name[start..dot].Any(c => c != '.') ? (name[..dot], name[dot..]) : (name, "");
    }
}
