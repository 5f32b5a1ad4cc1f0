using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace DirectorsConsole.ServiceDefaults.Configuration;

/// <summary>
/// The suite-wide settings of config.yaml (API doc 2), overridable by <c>ORCHESTRATOR_*</c> environment
/// variables (<c>ORCHESTRATOR_DATA_DIR</c> overrides <c>data_dir</c>). Relative directories are resolved
/// against the folder holding config.yaml, or the current directory when there is none.
/// </summary>
public sealed class OrchestratorOptions
{
    public const string ConfigPathVariable = "ORCHESTRATOR_CONFIG";
    public const string DefaultConfigPath = "./config.yaml";

    [ConfigurationKeyName("data_dir")]
    [Required(AllowEmptyStrings = false)]
    public string DataDir { get; set; } = "./data";

    [ConfigurationKeyName("log_dir")]
    [Required(AllowEmptyStrings = false)]
    public string LogDir { get; set; } = "./logs";

    /// <summary>The absolute path of config.yaml, whether or not it exists.</summary>
    public string ConfigFile { get; set; } = Path.GetFullPath(DefaultConfigPath);

    public string DataDirectory => Resolve(DataDir);

    public string LogDirectory => Resolve(LogDir);

    /// <summary>Resolves a path from config.yaml the way the original did: relative to the file's folder.</summary>
    public string Resolve(string path) =>
        Path.GetFullPath(path, Path.GetDirectoryName(ConfigFile) ?? Directory.GetCurrentDirectory());

    /// <summary>The config.yaml path that <see cref="ConfigPathVariable"/> names, made absolute.</summary>
    public static string LocateConfigFile(IConfiguration configuration) =>
        Path.GetFullPath(configuration[ConfigPathVariable] is { Length: > 0 } configured ? configured : DefaultConfigPath);
}
