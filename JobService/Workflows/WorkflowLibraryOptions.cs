using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace DirectorsConsole.JobService.Workflows;

/// <summary>Where the workflow library lives: config.yaml <c>workflows_dir</c>, or <c>ORCHESTRATOR_WORKFLOWS_DIR</c>.
/// A relative path is resolved like <c>data_dir</c>: against config.yaml's folder, else the current directory.</summary>
public sealed class WorkflowLibraryOptions
{
    [ConfigurationKeyName("workflows_dir")]
    [Required(AllowEmptyStrings = false)]
    public string WorkflowsDir { get; set; } = "./workflows";
}
