using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Workflows;
using DirectorsConsole.ServiceDefaults.Errors;

namespace DirectorsConsole.JobService.Apis;

/// <summary>A request's workflow with its parameters applied, or why it cannot be run.</summary>
public sealed record PreparedPrompt
{
    public JsonObject Prompt { get; init; } = [];

    public long? Seed { get; init; }

    public IReadOnlyList<string>? SeedNodes { get; init; }

    public IReadOnlyList<string> IgnoredParameters { get; init; } = [];

    /// <summary>The <c>workflow_id</c> names no workflow of the library (404).</summary>
    public bool WorkflowNotFound { get; init; }

    /// <summary>The stored workflow cannot be used (409): the message names the file and the problem.</summary>
    public string? WorkflowUnusable { get; init; }

    /// <summary>The request's workflow or parameters are wrong (422).</summary>
    public ValidationErrorList? Errors { get; init; }
}

/// <summary>Resolves a request's workflow, a template of the library (<c>workflow_id</c>, with its sidecar) or the
/// prompt it carries (<c>workflow_json</c>), and applies its <c>parameters</c> (<see cref="ParameterBinder"/>).</summary>
public sealed class PromptPreparation(WorkflowLibrary library)
{
    /// <param name="parametersField">The body field the parameters came in, named in the 422 errors.</param>
    public async Task<PreparedPrompt> PrepareAsync(string? workflowId, JsonObject? workflowJson, JsonObject parameters, CancellationToken cancellationToken,
        string parametersField = "parameters")
    {
        var errors = new ValidationErrorList();
        JsonObject prompt;
        WorkflowSidecar? sidecar = null;
        if (workflowId is not null)
        {
            WorkflowDefinition? definition;
            try
            {
                definition = await library.FindAsync(workflowId, cancellationToken);
            }
            catch (InvalidWorkflowFileException ex)
            {
                return new PreparedPrompt { WorkflowUnusable = $"Workflow '{workflowId}' cannot be used: {ex.Message}" };
            }

            if (definition is null)
            {
                return new PreparedPrompt { WorkflowNotFound = true };
            }

            prompt = definition.Prompt;
            sidecar = definition.Sidecar;
        }
        else
        {
            foreach (var problem in ApiWorkflow.Validate(workflowJson))
            {
                errors.Invalid(problem.Message, problem.Input, ["body", "workflow_json", .. problem.Location]);
            }

            if (errors.HasErrors)
            {
                return new PreparedPrompt { Errors = errors };
            }

            prompt = workflowJson!;
        }

        var applied = ParameterBinder.Apply(prompt, sidecar, parameters);
        if (!applied.IsValid)
        {
            applied.AddErrorsTo(errors, "body", parametersField);
            return new PreparedPrompt { Errors = errors };
        }

        return new PreparedPrompt
        {
            Prompt = applied.Prompt,
            Seed = applied.Seed,
            SeedNodes = applied.SeedNodes,
            IgnoredParameters = applied.IgnoredSummaries,
        };
    }
}
