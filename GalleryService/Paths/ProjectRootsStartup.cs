using Microsoft.Extensions.Options;

namespace DirectorsConsole.GalleryService.Paths;

/// <summary>
/// At start, creates the default root (<c>{data_dir}/projects</c>) so that a fresh suite has somewhere to put
/// projects, and logs the roots in effect. A configured root is never created: a missing one is usually a share
/// that is not mounted, and an empty local folder in its place would hide that and put renders on the local disk
/// instead of the NAS. It is logged as an error, and requests for paths inside it fail until it is there.
/// </summary>
public sealed class ProjectRootsStartup(IOptions<ProjectRootsOptions> options, ILogger<ProjectRootsStartup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var roots = options.Value;
        if (roots.IsDefault)
        {
            var root = roots.Roots[0];
            try
            {
                Directory.CreateDirectory(root);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException(
                    $"The default project root {root} could not be created ({ex.Message}); make data_dir writable or set project_roots / ORCHESTRATOR_PROJECT_ROOTS.", ex);
            }

            logger.LogInformation("Project root: {Root} (the default; set project_roots or ORCHESTRATOR_PROJECT_ROOTS to use other folders)", root);
            return Task.CompletedTask;
        }

        logger.LogInformation("Project roots (project_roots / ORCHESTRATOR_PROJECT_ROOTS): {Roots}", string.Join(", ", roots.Roots));
        foreach (var missing in roots.Roots.Where(root => !Directory.Exists(root)))
        {
            logger.LogError("The configured project root {Root} does not exist or cannot be reached (is the share mounted?); it is not created, and paths inside it fail until it is there", missing);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
