using System.Globalization;
using DirectorsConsole.ComfyEmulator.Control;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ComfyEmulator.Storage;

/// <summary>Where SaveImage writes a batch: ComfyUI's <c>folder_paths.get_save_image_path</c> result.</summary>
public sealed record SaveImageTarget(string FullOutputFolder, string Filename, int Counter, string Subfolder);

/// <summary>
/// ComfyUI's output, input and temp directories for this emulator instance. Output is <c>--output-dir</c> when
/// given; everything else lives in a per-instance temporary folder that is deleted when the emulator stops.
/// </summary>
public sealed class ComfyFolders : IDisposable
{
    /// <summary>The name every instance folder starts with, under the system's temporary folder.</summary>
    public const string InstancePrefix = "comfy-emulator-";

    /// <summary>The file an instance holds locked for as long as it runs, naming its process; unlocked, and naming no
    /// running process, its folder is abandoned.</summary>
    public const string OwnerFile = ".owner";

    /// <summary>How old an instance folder must be before another instance may remove it: a folder younger than
    /// this may belong to an instance that is only starting.</summary>
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromMinutes(1);

    /// <summary>The same for a folder without an owner file, made by a version before the file: such an instance
    /// may still be running, so only a folder untouched for this long is taken as abandoned.</summary>
    public static readonly TimeSpan UnownedAbandonedAfter = TimeSpan.FromDays(1);

    private readonly string instanceRoot;
    private readonly FileStream owner;
    private readonly TimeProvider time;
    private readonly EmulatorKnobs knobs;
    private readonly ILogger<ComfyFolders> logger;

    public ComfyFolders(IOptions<EmulatorOptions> options, TimeProvider time, EmulatorKnobs knobs, ILogger<ComfyFolders> logger)
    {
        this.time = time;
        this.knobs = knobs;
        this.logger = logger;
        instanceRoot = Directory.CreateTempSubdirectory(InstancePrefix).FullName;
        owner = new FileStream(Path.Combine(instanceRoot, OwnerFile), FileMode.CreateNew, FileAccess.Write, FileShare.None);
        owner.Write(System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture)));
        owner.Flush();
        RemoveAbandoned(Path.GetDirectoryName(instanceRoot)!, time.GetUtcNow(), logger);
        Output = Path.GetFullPath(options.Value.OutputDir.Length > 0 ? options.Value.OutputDir : Path.Combine(instanceRoot, "output"));
        Input = Path.Combine(instanceRoot, "input");
        Temp = Path.Combine(instanceRoot, "temp");
        foreach (var dir in new[] { Output, Input, Temp }) Directory.CreateDirectory(dir);
    }

    public string Output { get; }
    public string Input { get; }
    public string Temp { get; }

    /// <summary><c>folder_paths.get_directory_by_type</c>: output, input or temp; anything else is null.</summary>
    public string? DirectoryForType(string type) => type switch
    {
        "output" => Output,
        "input" => Input,
        "temp" => Temp,
        _ => null,
    };

    /// <summary>ComfyUI wipes its temp folder when it starts, so a restart does too.</summary>
    public void ClearTemp()
    {
        Directory.Delete(Temp, recursive: true);
        Directory.CreateDirectory(Temp);
    }

    /// <summary>
    /// Joins a client-supplied relative path under <paramref name="baseDir"/>, or returns null when it escapes
    /// (ComfyUI's <c>os.path.commonpath</c> check). A Windows host accepts both separators.
    /// </summary>
    public string? ResolveInside(string baseDir, string relative)
    {
        if (knobs.IsNt) relative = relative.Replace('\\', '/');
        var full = Path.GetFullPath(Path.Combine(baseDir, relative));
        return full == baseDir || full.StartsWith(baseDir + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? full : null;
    }

    /// <summary>
    /// <c>folder_paths.get_save_image_path</c>: expands <c>%width%</c>-style variables, splits a <c>/</c> in the prefix
    /// into the subfolder (reported with <c>\</c> on a Windows host), and continues the highest counter already on disk.
    /// </summary>
    public SaveImageTarget GetSaveImagePath(string filenamePrefix, string outputDir, int width, int height)
    {
        if (filenamePrefix.Contains('%', StringComparison.Ordinal)) filenamePrefix = ExpandVariables(filenamePrefix, width, height);

        var nt = knobs.IsNt;
        var normalized = HostPath.NormPath(filenamePrefix, nt);
        var subfolder = HostPath.DirName(normalized, nt);
        var filename = HostPath.BaseName(normalized, nt);
        var fullOutputFolder = ResolveInside(outputDir, subfolder);
        if (fullOutputFolder is null || subfolder.StartsWith('/') || (nt && subfolder.StartsWith('\\')))
        {
            var attempted = Path.GetFullPath(Path.Combine(outputDir, subfolder.Replace('\\', '/')));
            throw new Json.PythonException("Exception",
                "**** ERROR: Saving image outside the output folder is not allowed." +
                "\n full_output_folder: " + attempted +
                "\n         output_dir: " + outputDir +
                "\n         commonpath: " + CommonPath(outputDir, attempted),
                [SaveImageFrame]);
        }

        var prefixLength = HostPath.BaseName(filenamePrefix, nt).Length;
        var comparison = nt ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        var counter = 1;
        if (Directory.Exists(fullOutputFolder))
        {
            var highest = Directory.EnumerateFileSystemEntries(fullOutputFolder)
                .Select(Path.GetFileName)
                .Select(name => (Digits: CounterOf(name!, prefixLength), Prefix: name![..Math.Min(name!.Length, prefixLength + 1)]))
                .Where(entry => entry.Prefix.Length == prefixLength + 1 && entry.Prefix[^1] == '_'
                    && string.Equals(entry.Prefix[..^1], filename, comparison))
                .Select(entry => (int?)entry.Digits)
                .Max();
            if (highest is { } last) counter = last + 1;
        }
        else
        {
            Directory.CreateDirectory(fullOutputFolder);
        }
        return new SaveImageTarget(fullOutputFolder, filename, counter, subfolder);
    }

    /// <summary>
    /// Removes the folders of instances that ended without deleting their own (killed, as the tests kill nodes):
    /// those whose owner file is no longer locked once they are <see cref="AbandonedAfter"/> old, and those of older
    /// versions (no owner file) once they are <see cref="UnownedAbandonedAfter"/> old. Returns how many were removed;
    /// a folder that cannot be removed is left.
    /// </summary>
    public static int RemoveAbandoned(string temporaryFolder, DateTimeOffset now, ILogger logger)
    {
        var removed = 0;
        foreach (var folder in Directory.EnumerateDirectories(temporaryFolder, InstancePrefix + "*"))
        {
            try
            {
                var age = now - Directory.GetLastWriteTimeUtc(folder);
                var hasOwnerFile = File.Exists(Path.Combine(folder, OwnerFile));
                if (age < (hasOwnerFile ? AbandonedAfter : UnownedAbandonedAfter) || (hasOwnerFile && IsOwned(folder)))
                {
                    continue;
                }

                Directory.Delete(folder, recursive: true);
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                logger.LogDebug(e, "Could not remove the abandoned emulator folder {Folder}", folder);
            }
        }

        if (removed > 0)
        {
            logger.LogInformation("Removed {Count} emulator folders left by instances that did not stop", removed);
        }

        return removed;
    }

    /// <summary>True while a running instance holds the folder's owner file (the lock ends with its process), or,
    /// where file locks are off (<c>DOTNET_SYSTEM_IO_DISABLEFILELOCKING</c>), while the process it names runs.</summary>
    private static bool IsOwned(string folder)
    {
        try
        {
            using var probe = new FileStream(Path.Combine(folder, OwnerFile), FileMode.Open, FileAccess.Read, FileShare.None);
            using var reader = new StreamReader(probe);
            return int.TryParse(reader.ReadToEnd(), NumberStyles.None, CultureInfo.InvariantCulture, out var processId) && IsRunning(processId);
        }
        catch (IOException)
        {
            return true;
        }
    }

    private static bool IsRunning(int processId)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        owner.Dispose();
        try
        {
            Directory.Delete(instanceRoot, recursive: true);
        }
        catch (IOException e)
        {
            logger.LogWarning(e, "Could not delete the emulator folder {Folder}", instanceRoot);
        }
    }

    private const string SaveImageFrame = "  File \"<comfyui>/folder_paths.py\", line 451, in get_save_image_path\n    raise Exception(err)\n";

    private static int CounterOf(string name, int prefixLength)
    {
        if (name.Length <= prefixLength + 1) return 0;
        var digits = name[(prefixLength + 1)..].Split('_')[0];
        return int.TryParse(digits.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value : 0;
    }

    private string ExpandVariables(string prefix, int width, int height)
    {
        var now = time.GetLocalNow();
        return prefix
            .Replace("%width%", width.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("%height%", height.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("%year%", now.Year.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("%month%", now.Month.ToString("00", CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("%day%", now.Day.ToString("00", CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("%hour%", now.Hour.ToString("00", CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("%minute%", now.Minute.ToString("00", CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("%second%", now.Second.ToString("00", CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    private static string CommonPath(string a, string b)
    {
        var left = a.Split('/');
        var right = b.Split('/');
        var common = left.Zip(right).TakeWhile(pair => pair.First == pair.Second).Count();
        return string.Join('/', left.Take(common)) is { Length: > 0 } path ? path : "/";
    }
}

/// <summary>Python's <c>os.path</c> on the emulated host: <c>posixpath</c>, or <c>ntpath</c> for <c>--os nt</c>.</summary>
public static class HostPath
{
    public static string NormPath(string path, bool nt)
    {
        var separator = nt ? '\\' : '/';
        if (nt) path = path.Replace('/', '\\');
        if (path.Length == 0) return ".";
        var absolute = path[0] == separator;
        var parts = new List<string>();
        foreach (var part in path.Split(separator))
        {
            if (part is "" or ".") continue;
            if (part == ".." && parts.Count > 0 && parts[^1] != "..") parts.RemoveAt(parts.Count - 1);
            else if (part != ".." || !absolute) parts.Add(part);
        }
        var joined = string.Join(separator, parts);
        return absolute ? separator + joined : joined.Length == 0 ? "." : joined;
    }

    public static string DirName(string path, bool nt)
    {
        var cut = nt ? path.LastIndexOfAny(['\\', '/']) : path.LastIndexOf('/');
        if (cut < 0) return "";
        var head = path[..(cut + 1)];
        var trimmed = head.TrimEnd(nt ? ['\\', '/'] : ['/']);
        return trimmed.Length == 0 ? head : trimmed;
    }

    public static string BaseName(string path, bool nt)
    {
        var cut = nt ? path.LastIndexOfAny(['\\', '/']) : path.LastIndexOf('/');
        return path[(cut + 1)..];
    }
}
