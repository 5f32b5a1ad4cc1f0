using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.RenderAgent;

/// <summary>Section <c>Agent</c> (appsettings.json, <c>Agent__*</c> variables or <c>--Agent:…</c> arguments).</summary>
public sealed class AgentOptions
{
    public const string SectionName = "Agent";

    /// <summary>The suite's public address (its Gateway), e.g. <c>http://studio:9820</c>.</summary>
    public Uri? Orchestrator { get; set; }

    /// <summary>The worker token sent as <c>X-Worker-Token</c>.</summary>
    public string Token { get; set; } = "";

    /// <summary>This agent's id in the suite (the backend id its jobs name).</summary>
    public string WorkerId { get; set; } = "";

    /// <summary>A display name; the worker id when unset.</summary>
    public string? Name { get; set; }

    /// <summary>The local ComfyUI, e.g. <c>http://127.0.0.1:8188</c>.</summary>
    public Uri? ComfyUi { get; set; }

    /// <summary>Prompts the node runs at once.</summary>
    public int MaxConcurrentJobs { get; set; } = 1;

    /// <summary>Prompts held beyond those, waiting in ComfyUI's own queue.</summary>
    public int Prefetch { get; set; } = 1;

    /// <summary>One call to the orchestrator or to ComfyUI (a long poll waits the poll timeout on top).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>One output file's upload, from the node's <c>/view</c> to the orchestrator.</summary>
    public TimeSpan UploadTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The first and the longest wait between attempts while the orchestrator or ComfyUI does not answer.</summary>
    public TimeSpan RetryMinDelay { get; set; } = TimeSpan.FromSeconds(0.5);

    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a running prompt is looked up in ComfyUI's <c>/queue</c> and <c>/history</c> even
    /// when its socket said nothing (a message lost while the socket reconnected).</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The slots the agent polls for: running prompts and prompts waiting in the node's queue.</summary>
    public int Slots => MaxConcurrentJobs + Prefetch;

    /// <summary>The orchestrator's address with a trailing slash, so relative routes keep its path.</summary>
    public Uri OrchestratorBase => WithSlash(Orchestrator!);

    public Uri ComfyUiBase => WithSlash(ComfyUi!);

    private static Uri WithSlash(Uri uri) => uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
}

public sealed partial class AgentOptionsValidator : IValidateOptions<AgentOptions>
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex WorkerIdPattern();

    public ValidateOptionsResult Validate(string? name, AgentOptions options)
    {
        var failures = new List<string>();
        RequireHttp(options.Orchestrator, nameof(options.Orchestrator), failures);
        RequireHttp(options.ComfyUi, nameof(options.ComfyUi), failures);
        if (string.IsNullOrWhiteSpace(options.Token))
        {
            failures.Add("Agent:Token is required: the worker token the suite's config.yaml names (worker_token_sha256 or workers).");
        }

        if (!WorkerIdPattern().IsMatch(options.WorkerId))
        {
            failures.Add("Agent:WorkerId must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
        }

        if (options.MaxConcurrentJobs is < 1 or > 64)
        {
            failures.Add("Agent:MaxConcurrentJobs must be 1–64.");
        }

        if (options.Prefetch is < 0 or > 16)
        {
            failures.Add("Agent:Prefetch must be 0–16.");
        }

        RequirePositive(options.RequestTimeout, nameof(options.RequestTimeout), failures);
        RequirePositive(options.UploadTimeout, nameof(options.UploadTimeout), failures);
        RequirePositive(options.RetryMinDelay, nameof(options.RetryMinDelay), failures);
        RequirePositive(options.ReconcileInterval, nameof(options.ReconcileInterval), failures);
        if (options.RetryMaxDelay < options.RetryMinDelay)
        {
            failures.Add("Agent:RetryMaxDelay must be at least Agent:RetryMinDelay.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void RequireHttp(Uri? uri, string key, List<string> failures)
    {
        if (uri is not { IsAbsoluteUri: true } || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Query.Length > 0)
        {
            failures.Add($"Agent:{key} must be an absolute http:// or https:// address without a query (got '{uri}').");
        }
    }

    private static void RequirePositive(TimeSpan value, string key, List<string> failures)
    {
        if (value <= TimeSpan.Zero)
        {
            failures.Add($"Agent:{key} must be positive.");
        }
    }
}
