using DirectorsConsole.ServiceDefaults.Configuration;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.GalleryService.Paths;

/// <summary>
/// The folders client paths may reach. Read from config.yaml's <c>project_roots</c> list and from
/// <c>ORCHESTRATOR_PROJECT_ROOTS</c> (configuration key <c>project_roots</c>, so the two merge), which holds
/// several folders separated by the OS path-list separator (<c>:</c> on Linux and macOS, <c>;</c> on Windows,
/// as in <c>PATH</c>). Relative folders are resolved against config.yaml's folder. With nothing configured,
/// the only root is <c>{data_dir}/projects</c>, so a fresh install exposes nothing else; the service creates it
/// at start (<see cref="ProjectRootsStartup"/>).
/// </summary>
public sealed class ProjectRootsOptions
{
    public const string SectionName = "project_roots";

    /// <summary>Absolute, normalised folders (links not yet resolved).</summary>
    public IReadOnlyList<string> Roots { get; set; } = [];

    /// <summary>True when nothing is configured and <see cref="Roots"/> is the data directory's <c>projects</c> folder.</summary>
    public bool IsDefault { get; set; }

    /// <summary>Fills <see cref="Roots"/> from the section's children and from its own value (the list form).</summary>
    public sealed class Setup(IConfiguration configuration, IOptions<OrchestratorOptions> orchestrator) : IConfigureOptions<ProjectRootsOptions>
    {
        public void Configure(ProjectRootsOptions options)
        {
            var section = configuration.GetSection(SectionName);
            var configured = section.GetChildren().Select(child => child.Value)
                .Concat(section.Value?.Split(Path.PathSeparator) ?? [])
                .Select(root => root?.Trim())
                .Where(root => !string.IsNullOrEmpty(root))
                .Select(root => root!)
                .ToList();
            options.IsDefault = configured.Count == 0;
            options.Roots = configured.Count == 0
                ? [Path.Combine(orchestrator.Value.DataDirectory, "projects")]
                : configured.Select(root => Path.TrimEndingDirectorySeparator(orchestrator.Value.Resolve(root)))
                    .Distinct(ProjectPathResolver.PathComparer)
                    .ToList();
        }
    }

    public sealed class Validator : IValidateOptions<ProjectRootsOptions>
    {
        public ValidateOptionsResult Validate(string? name, ProjectRootsOptions options)
        {
            var bad = options.Roots.Where(root => root.Contains('\0') || !Path.IsPathFullyQualified(root)).ToList();
            return bad.Count == 0
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail($"project_roots holds folders that are not absolute paths of this machine: {string.Join(", ", bad)}");
        }
    }
}
