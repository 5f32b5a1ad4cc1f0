using DirectorsConsole.JobService.Inbox;
using DirectorsConsole.JobService.Workflows;

namespace Microsoft.Extensions.Hosting;

public static class WorkflowServiceCollectionExtensions
{
    /// <summary>The workflow library (<c>workflows_dir</c>) and, when <c>ORCHESTRATOR_INBOX</c> or <c>inbox_dir</c> is
    /// set, the inbox that submits the manifests dropped there.</summary>
    public static IHostApplicationBuilder AddWorkflowLibrary(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<WorkflowLibraryOptions>()
            .Bind(builder.Configuration)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<WorkflowLibrary>();
        builder.AddInbox();
        return builder;
    }
}
