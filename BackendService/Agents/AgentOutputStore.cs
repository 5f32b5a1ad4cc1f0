using System.Globalization;
using DirectorsConsole.ServiceDefaults.Configuration;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Agents;

/// <summary>Why an output's name was refused: <see cref="Status"/> 422 for a name that is not usable, 403 for one that
/// would lead outside the agent's folder.</summary>
public sealed record AgentOutputNameError(int Status, string Field, string Detail);

/// <summary>
/// The files render agents upload (the outputs of their prompts), under
/// <c>&lt;data_dir&gt;/agent-outputs/{agent}/{type}/{subfolder}/{filename}</c>, served by the <c>/view</c> of the agent's
/// backend as a node's <c>/view</c> serves its own. Names are plain (no separators, no <c>..</c>, no control
/// characters), the subfolder a path of plain names, the type <c>output</c> or <c>temp</c>; the resolved path is checked
/// to stay inside the agent's folder. A file is written to a temporary name beside it and moved into place, so a reader
/// never sees half a file and a second upload replaces the first whole.
/// </summary>
public sealed class AgentOutputStore(IOptions<OrchestratorOptions> orchestrator)
{
    public const string FolderName = "agent-outputs";

    private static readonly string[] Types = ["output", "temp"];

    public string Root => Path.Combine(orchestrator.Value.DataDirectory, FolderName);

    /// <summary>The file an output is kept in, or the reason it cannot be.</summary>
    public (string? Path, AgentOutputNameError? Error) Locate(string agentId, string? filename, string? subfolder, string? type)
    {
        type = string.IsNullOrEmpty(type) ? "output" : type;
        if (!Types.Contains(type))
        {
            return (null, new AgentOutputNameError(StatusCodes.Status422UnprocessableEntity, "type", $"the type must be output or temp, not '{type}'"));
        }

        if (string.IsNullOrEmpty(filename))
        {
            return (null, new AgentOutputNameError(StatusCodes.Status422UnprocessableEntity, "filename", "the filename is required"));
        }

        if (!IsPlainName(filename))
        {
            return (null, new AgentOutputNameError(filename is "." or ".." || filename.Contains('/') || filename.Contains('\\') ? StatusCodes.Status403Forbidden : StatusCodes.Status422UnprocessableEntity,
                "filename", $"the filename must be a plain name (no '/', '\\\\', '..', NUL or control characters, at most 255 characters), not '{filename}'"));
        }

        var segments = (subfolder ?? "").Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Any(segment => !IsPlainName(segment)) || (subfolder ?? "").StartsWith('/') || (subfolder ?? "").StartsWith('\\'))
        {
            return (null, new AgentOutputNameError(StatusCodes.Status403Forbidden, "subfolder",
                $"the subfolder must be a relative path of plain names that stays inside the agent's folder, not '{subfolder}'"));
        }

        var folder = Path.GetFullPath(Path.Combine(Root, agentId));
        var path = Path.GetFullPath(Path.Combine([folder, type, .. segments, filename]));
        if (!path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return (null, new AgentOutputNameError(StatusCodes.Status403Forbidden, "filename", "the file would be outside the agent's folder"));
        }

        return (path, null);
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> whole: a temporary file, then a move over any earlier one.</summary>
    public async Task SaveAsync(string path, Stream content, CancellationToken cancellationToken)
    {
        var folder = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, string.Create(CultureInfo.InvariantCulture, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.part"));
        try
        {
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
            {
                await content.CopyToAsync(file, cancellationToken);
                await file.FlushAsync(cancellationToken);
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    private static bool IsPlainName(string name) =>
        name.Length is > 0 and <= 255 && name is not ("." or "..") && name.IndexOfAny(['/', '\\', '\0', ':']) < 0 && !name.Any(char.IsControl);
}
