using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.ServiceDefaults.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

using DirectorsConsole.JobService.Webhooks;

namespace DirectorsConsole.JobService.Apis;

/// <summary>
/// The checks jobs and job groups share, with FastAPI's error types and messages (a Pydantic model with the same
/// constraints gives the same 422), and the 400/404/409 bodies with a string <c>detail</c> that API doc 4's clients parse.
/// </summary>
public static class JobRequestChecks
{
    public const int MinTimeoutSeconds = 30;
    public const int MaxTimeoutSeconds = 3600;
    public const int DefaultTimeoutSeconds = 300;

    /// <summary>A workflow comes as <c>workflow_id</c> (a template of <c>workflows/</c>) or as <c>workflow_json</c>
    /// (ComfyUI's API format, checked by <see cref="PromptPreparation"/>), exactly one of them. <paramref name="required"/> is the field reported when both are
    /// absent: <c>workflow_id</c> for jobs (API doc 1's example), <c>workflow_json</c> for groups (API doc 4).</summary>
    public static void Workflow(string? workflowId, JsonObject? workflowJson, string required, Func<JsonNode?> body, ValidationErrorList errors)
    {
        if (workflowId is null && workflowJson is null)
        {
            errors.Missing(body(), "body", required);
        }
        else if (workflowId is not null && workflowJson is not null)
        {
            errors.Invalid("give either workflow_id or workflow_json, not both", body(), "body");
        }
        else if (workflowId is { } id && string.IsNullOrWhiteSpace(id))
        {
            errors.Add("string_too_short", "String should have at least 1 character", JsonValue.Create(id), "body", "workflow_id");
        }
    }

    /// <summary>Range 30–3600 s (API doc 4); null means the default of 300 s.</summary>
    public static int TimeoutSeconds(int? timeoutSeconds, ValidationErrorList errors)
    {
        switch (timeoutSeconds)
        {
            case < MinTimeoutSeconds:
                errors.Add("greater_than_equal", $"Input should be greater than or equal to {MinTimeoutSeconds}", JsonValue.Create(timeoutSeconds), "body", "timeout_seconds");
                break;
            case > MaxTimeoutSeconds:
                errors.Add("less_than_equal", $"Input should be less than or equal to {MaxTimeoutSeconds}", JsonValue.Create(timeoutSeconds), "body", "timeout_seconds");
                break;
        }

        return timeoutSeconds ?? DefaultTimeoutSeconds;
    }

    /// <summary>Names in a list (capabilities, backend ids, seed nodes) must be non-empty strings.</summary>
    public static IReadOnlyList<string> Names(IReadOnlyList<string>? names, string field, ValidationErrorList errors)
    {
        if (names is null)
        {
            return [];
        }

        for (var i = 0; i < names.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(names[i]))
            {
                errors.Add("string_too_short", "String should have at least 1 character", JsonValue.Create(names[i]), "body", field, i);
            }
        }

        return names;
    }

    /// <summary>Every seed node must be a node of the prompt, or the seed would silently go nowhere.</summary>
    public static void SeedNodes(IReadOnlyList<string>? seedNodes, JsonObject prompt, ValidationErrorList errors)
    {
        for (var i = 0; i < (seedNodes?.Count ?? 0); i++)
        {
            if (!prompt.ContainsKey(seedNodes![i]))
            {
                errors.Invalid($"node '{seedNodes[i]}' is not in the workflow", JsonValue.Create(seedNodes[i]), "body", "seed_nodes", i);
            }
        }
    }

    /// <summary>The backends a job may run on, with the reason it may not when none fits: the affinity must exist and
    /// be enabled (the original server); without one, some enabled backend must have every required capability.</summary>
    public static string? SingleJobBackendProblem(IReadOnlyList<BackendEntry> backends, string? affinity, IReadOnlyList<string> capabilities)
    {
        if (affinity is not null)
        {
            var backend = backends.FirstOrDefault(b => b.Definition.Id == affinity);
            if (backend is null)
            {
                return $"Backend '{affinity}' not found";
            }

            if (!backend.Definition.Enabled)
            {
                return $"Backend '{affinity}' is disabled";
            }

            var missing = MissingCapabilities(backend, capabilities);
            return missing.Count == 0 ? null : $"Backend '{affinity}' lacks the required capabilities: {string.Join(", ", missing)}";
        }

        return capabilities.Count == 0 || backends.Any(b => b.Definition.Enabled && MissingCapabilities(b, capabilities).Count == 0)
            ? null
            : $"No enabled backend has every required capability: {string.Join(", ", capabilities)}";
    }

    /// <summary>A group's backends must all be known, enabled and capable, and at least one must be online (offline
    /// ones get their child queued, as the original allowed).</summary>
    public static string? GroupBackendProblem(IReadOnlyList<BackendEntry> backends, IReadOnlyList<string> backendIds, IReadOnlyList<string> capabilities)
    {
        var byId = backends.ToDictionary(b => b.Definition.Id, StringComparer.Ordinal);
        var named = backendIds.Distinct(StringComparer.Ordinal).ToArray();
        var unknown = named.Where(id => !byId.ContainsKey(id)).ToArray();
        if (unknown.Length > 0)
        {
            return $"Unknown backend ids: {string.Join(", ", unknown)}";
        }

        var disabled = named.Where(id => !byId[id].Definition.Enabled).ToArray();
        if (disabled.Length > 0)
        {
            return $"Disabled backends: {string.Join(", ", disabled)}";
        }

        if (!named.Any(id => byId[id].Online))
        {
            return "No valid online backends available";
        }

        var lacking = named
            .Select(id => (id, missing: MissingCapabilities(byId[id], capabilities)))
            .Where(b => b.missing.Count > 0)
            .Select(b => $"{b.id} lacks {string.Join(", ", b.missing)}")
            .ToArray();
        return lacking.Length == 0 ? null : $"Backends lack required capabilities: {string.Join("; ", lacking)}";
    }

    private static List<string> MissingCapabilities(BackendEntry backend, IReadOnlyList<string> capabilities) =>
        capabilities.Where(c => !BackendEligibility.HasCapabilities(backend.Definition, backend.State, [c])).ToList();

    /// <summary>FastAPI reports the object a field is missing from as the error's input; the request as it was
    /// understood, without the fields it did not have, is that object.</summary>
    /// <summary>A webhook URL: absolute http or https, no credentials, and not a literal address webhooks may not
    /// reach (<see cref="WebhookAddressPolicy"/>; a host name is checked again on every delivery, after DNS).</summary>
    public static void WebhookUrl(string? url, bool allowLoopback, ValidationErrorList errors)
    {
        if (url is null)
        {
            return;
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
        {
            errors.Add("url_scheme", "URL scheme should be 'http' or 'https' with a host", JsonValue.Create(url), "body", "webhook_url");
        }
        else if (WebhookAddressPolicy.CheckUrl(uri, allowLoopback) is { } problem)
        {
            errors.Add("value_error", problem, JsonValue.Create(url), "body", "webhook_url");
        }
    }

    /// <summary>The request as a JSON tree, for the errors that quote the whole body; made only when one does (the
    /// workflow makes it the largest part of a request).</summary>
    public static Func<JsonNode?> Body<T>(T request, JsonSerializerOptions options) =>
        () => JsonSerializer.SerializeToNode(request, BodyOptions.For(options));

    public static BadRequest<ProblemDetails> BadRequest(string detail) =>
        TypedResults.BadRequest(new ProblemDetails { Status = StatusCodes.Status400BadRequest, Title = "Bad Request", Detail = detail });

    public static NotFound<ProblemDetails> NotFound(string detail) =>
        TypedResults.NotFound(new ProblemDetails { Status = StatusCodes.Status404NotFound, Title = "Not Found", Detail = detail });

    public static Conflict<ProblemDetails> Conflict(string detail) =>
        TypedResults.Conflict(new ProblemDetails { Status = StatusCodes.Status409Conflict, Title = "Conflict", Detail = detail });

    /// <summary>Query paging, checked like FastAPI's <c>Query(ge=…, le=…)</c>.</summary>
    public static (int Offset, int Limit) Paging(int? offset, int? limit, int defaultLimit, int maxLimit, ValidationErrorList errors)
    {
        if (offset is < 0)
        {
            errors.Add("greater_than_equal", "Input should be greater than or equal to 0", JsonValue.Create(offset.Value.ToString(CultureInfo.InvariantCulture)), "query", "offset");
        }

        if (limit is < 1)
        {
            errors.Add("greater_than_equal", "Input should be greater than or equal to 1", JsonValue.Create(limit.Value.ToString(CultureInfo.InvariantCulture)), "query", "limit");
        }
        else if (limit > maxLimit)
        {
            errors.Add("less_than_equal", $"Input should be less than or equal to {maxLimit}", JsonValue.Create(limit.Value.ToString(CultureInfo.InvariantCulture)), "query", "limit");
        }

        return (offset ?? 0, limit ?? defaultLimit);
    }

    private static class BodyOptions
    {
        private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<JsonSerializerOptions, JsonSerializerOptions> Derived = new();

        public static JsonSerializerOptions For(JsonSerializerOptions options) =>
            Derived.GetValue(options, o => new JsonSerializerOptions(o) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull });
    }
}
