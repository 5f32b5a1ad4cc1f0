using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;

namespace DirectorsConsole.BackendService.Infrastructure;

/// <summary>One problem with a backend's fields; <see cref="Type"/> is FastAPI's error type (<c>missing</c> or
/// <c>value_error</c>), <see cref="Field"/> the snake_case field name.</summary>
public sealed record BackendFieldError(string Type, string Field, string Message, JsonNode? Input);

/// <summary>The outcome of <see cref="BackendValidator.Validate"/>: the normalised backend, or what is wrong.</summary>
public sealed record BackendValidation(BackendDefinition? Backend, IReadOnlyList<BackendFieldError> Errors)
{
    public bool IsValid => Errors.Count == 0;
}

/// <summary>
/// The rules a backend definition follows, whether it comes from config.yaml, <c>COMFY_NODES</c> or the API:
/// id <c>^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$</c> (default <c>host_port</c>), host a DNS name or an IP literal
/// that <see cref="BackendHostPolicy"/> allows, port 1–65535, max_concurrent_jobs 1–64, prefetch 0–16 (absent:
/// JobService's default), capabilities and tags non-empty strings.
/// </summary>
public static partial class BackendValidator
{
    public const int DefaultPort = 8188;
    public const int MaxConcurrentJobsLimit = 64;
    public const int MaxNameLength = 200;
    public const int MaxLabelLength = 128;
    public const int MaxLabels = 256;

    private static readonly string[] FieldOrder = ["id", "name", "host", "port", "enabled", "capabilities", "max_concurrent_jobs", "prefetch", "tags"];

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex(@"^(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}$")]
    private static partial Regex DottedQuad();

    /// <summary>Validates and normalises <paramref name="request"/>. <paramref name="routeId"/> is the id of a
    /// PUT, which the body may repeat but not change.</summary>
    public static BackendValidation Validate(BackendRequest request, BackendSource source, string? routeId = null)
    {
        var errors = new List<BackendFieldError>();

        string? host = null;
        if (request.Host is null)
        {
            errors.Add(new BackendFieldError("missing", "host", "Field required", null));
        }
        else if (HostError(request.Host, out var normalized) is { } hostError)
        {
            errors.Add(Invalid("host", hostError, request.Host));
        }
        else
        {
            host = normalized;
        }

        var port = request.Port ?? DefaultPort;
        if (port is < 1 or > 65535)
        {
            errors.Add(Invalid("port", "the port must be between 1 and 65535", port));
        }

        var maxJobs = SlotErrors(request.MaxConcurrentJobs, request.Prefetch, errors);

        var id = routeId ?? request.Id?.Trim();
        if (routeId is not null && request.Id is not null && request.Id.Trim() != routeId)
        {
            errors.Add(Invalid("id", $"the id in the body ('{request.Id}') differs from the id in the path ('{routeId}'); ids cannot be changed", request.Id));
        }
        else if (id is null)
        {
            if (host is not null && port is >= 1 and <= 65535)
            {
                id = DefaultId(host, port);
                if (IdError(id) is not null)
                {
                    errors.Add(Invalid("id", $"the id derived from the host ('{id}') is not a valid id; give one explicitly", null));
                }
            }
        }
        else if (IdError(id) is { } idError)
        {
            errors.Add(Invalid("id", idError, request.Id));
        }

        var name = NameOf(request.Name, errors);

        var capabilities = Labels("capabilities", request.Capabilities, errors);
        var tags = Labels("tags", request.Tags, errors);
        if (errors.Count > 0)
        {
            // Reported in the order of the fields, as FastAPI does.
            return new BackendValidation(null, errors.OrderBy(e => Array.IndexOf(FieldOrder, e.Field)).ToArray());
        }

        return new BackendValidation(
            new BackendDefinition(id!, string.IsNullOrEmpty(name) ? id! : name, host!, port, request.Enabled ?? true, capabilities, maxJobs, tags, source)
            {
                Prefetch = request.Prefetch,
            },
            errors);
    }

    /// <summary>Validates a render agent's registration as the backend it defines: the worker id is the backend id (the
    /// same rule), <c>max_concurrent_jobs</c> and <c>prefetch</c> as for any backend, no host or port. Its capabilities
    /// are discovered ones (<see cref="AgentCapabilityErrors"/>), not declared ones.</summary>
    public static BackendValidation ValidateAgent(Agents.AgentRegistration registration)
    {
        var errors = new List<BackendFieldError>();
        var id = registration.WorkerId?.Trim();
        if (id is null)
        {
            errors.Add(new BackendFieldError("missing", "worker_id", "Field required", null));
        }
        else if (IdError(id) is { } idError)
        {
            errors.Add(Invalid("worker_id", idError.Replace("the id", "the worker_id", StringComparison.Ordinal), registration.WorkerId));
        }

        var maxJobs = SlotErrors(registration.MaxConcurrentJobs, registration.Prefetch, errors);
        var name = NameOf(registration.Name, errors);

        var tags = Labels("tags", registration.Tags, errors);
        errors.AddRange(AgentCapabilityErrors(registration.Capabilities));
        if (errors.Count > 0)
        {
            return new BackendValidation(null, errors);
        }

        return new BackendValidation(
            new BackendDefinition(id!, string.IsNullOrEmpty(name) ? id! : name, "", 0, true, [], maxJobs, tags, BackendSource.Agent)
            {
                Prefetch = registration.Prefetch,
                Kind = BackendKinds.Agent,
            },
            errors);
    }

    /// <summary>max_concurrent_jobs (default 1) and prefetch, as every backend takes them; returns max_concurrent_jobs.</summary>
    private static int SlotErrors(int? maxConcurrentJobs, int? prefetch, List<BackendFieldError> errors)
    {
        var maxJobs = maxConcurrentJobs ?? 1;
        if (maxJobs is < 1 or > MaxConcurrentJobsLimit)
        {
            errors.Add(Invalid("max_concurrent_jobs", $"max_concurrent_jobs must be between 1 and {MaxConcurrentJobsLimit}", maxJobs));
        }

        if (prefetch is < 0 or > BackendDefinition.PrefetchLimit)
        {
            errors.Add(Invalid("prefetch", $"prefetch must be between 0 and {BackendDefinition.PrefetchLimit}", prefetch.Value));
        }

        return maxJobs;
    }

    private static string? NameOf(string? requested, List<BackendFieldError> errors)
    {
        var name = requested?.Trim();
        if (name is { Length: > MaxNameLength })
        {
            errors.Add(Invalid("name", $"the name must be at most {MaxNameLength} characters", requested));
        }

        return name;
    }

    private static IEnumerable<BackendFieldError> AgentCapabilityErrors(Agents.AgentCapabilities? capabilities)
    {
        foreach (var (field, values) in new[] { ("capabilities.models", capabilities?.Models), ("capabilities.node_classes", capabilities?.NodeClasses) })
        {
            if (values is null)
            {
                continue;
            }

            if (values.Count > Agents.AgentLimits.MaxCapabilityEntries)
            {
                yield return Invalid(field, $"at most {Agents.AgentLimits.MaxCapabilityEntries} entries are accepted", null);
                continue;
            }

            for (var i = 0; i < values.Count; i++)
            {
                if (string.IsNullOrWhiteSpace(values[i]) || values[i]!.Length > Agents.AgentLimits.MaxCapabilityLength)
                {
                    yield return Invalid(field, $"every entry must be a non-empty string of at most {Agents.AgentLimits.MaxCapabilityLength} characters (entry {i})", values[i]);
                    break;
                }
            }
        }

        if (capabilities?.VramBytes is < 0)
        {
            yield return Invalid("capabilities.vram_bytes", "vram_bytes must not be negative", null);
        }
    }

    /// <summary>Why <paramref name="id"/> is not a valid backend id, or null.</summary>
    public static string? IdError(string id) =>
        IdPattern().IsMatch(id)
            ? null
            : "the id must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit";

    /// <summary>The id of a backend given only by address: <c>host_port</c> (<c>127.0.0.1_8188</c>), with
    /// characters an id cannot hold (an IPv6 address's colons) replaced by <c>-</c>.</summary>
    public static string DefaultId(string host, int port)
    {
        var builder = new StringBuilder(host.Length + 6);
        foreach (var c in $"{host}_{port.ToString(CultureInfo.InvariantCulture)}")
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '-');
        }

        var id = builder.ToString();
        return char.IsAsciiLetterOrDigit(id[0]) ? id : "ip6" + id;
    }

    /// <summary>Why <paramref name="host"/> cannot be a backend host, or null; <paramref name="normalized"/> is
    /// the host to store (lowercase name without a trailing dot, or the canonical IP text without brackets).</summary>
    public static string? HostError(string host, out string normalized)
    {
        normalized = host.Trim();
        if (normalized.Length == 0)
        {
            return "the host must not be empty";
        }

        var literal = normalized.StartsWith('[') && normalized.EndsWith(']') ? normalized[1..^1] : normalized;
        if (literal.Contains(':'))
        {
            // A zone (fe80::1%eth0) is judged by its address first, so the refusal names the rule that matters.
            var zone = literal.IndexOf('%');
            if (!IPAddress.TryParse(zone < 0 ? literal : literal[..zone], out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return "the host is not a valid IPv6 address; give a host name or an IP address without a port";
            }

            normalized = v6.ToString();
            return ForbiddenAddress(v6) ?? (zone < 0 ? null : "the host is not accepted with a zone id (%…); give the address alone");
        }

        // A fully qualified address (169.254.169.254.) is the same address.
        literal = literal.EndsWith('.') ? literal[..^1] : literal;
        if (DottedQuad().IsMatch(literal))
        {
            if (!IPAddress.TryParse(literal, out var v4) || literal.Split('.').Any(part => int.Parse(part, CultureInfo.InvariantCulture) > 255))
            {
                return "the host is not a valid IPv4 address";
            }

            normalized = v4.ToString();
            return ForbiddenAddress(v4);
        }

        var name = literal;
        var labels = name.Split('.');
        if (name.Length is 0 or > 253 || !labels.All(label => DnsLabel().IsMatch(label)))
        {
            return "the host must be a DNS name (letters, digits, '-' and '_' in dot-separated labels) or an IP address, without scheme, port or path";
        }

        // A last label of digits (or 0x… hex) is how shortened or numeric IPv4 forms such as 127.1, 2130706433
        // or 0x7f000001 look; URL parsers read them as addresses, so they are not names.
        var last = labels[^1];
        if (last.All(char.IsAsciiDigit) || (last.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && last[2..].All(char.IsAsciiHexDigit)))
        {
            // Decimal, octal (0251.…) and hex (0xa9fea9fe) spellings reach an address too: name the rule it breaks.
            return IPAddress.TryParse(name, out var spelled) && spelled.AddressFamily == AddressFamily.InterNetwork
                && BackendHostPolicy.ForbiddenReason(spelled) is { } spelledReason
                ? $"the host is not allowed: it is {spelled} written in another notation, and {spelledReason}"
                : "the host looks like an abbreviated or numeric IPv4 address; write IPv4 addresses as four decimal numbers (192.168.1.10)";
        }

        normalized = name.ToLowerInvariant();
        return BackendHostPolicy.ForbiddenNameReason(normalized) is { } reason ? $"the host is not allowed: {reason}" : null;
    }

    private static string? ForbiddenAddress(IPAddress address) =>
        BackendHostPolicy.ForbiddenReason(address) is { } reason ? $"the host is not allowed: {reason}" : null;

    private static IReadOnlyList<string> Labels(string field, IReadOnlyList<string?>? values, List<BackendFieldError> errors)
    {
        if (values is null)
        {
            return [];
        }

        if (values.Count > MaxLabels)
        {
            errors.Add(Invalid(field, $"at most {MaxLabels} {field} are accepted", null));
            return [];
        }

        var result = new List<string>(values.Count);
        for (var i = 0; i < values.Count; i++)
        {
            var value = values[i]?.Trim();
            if (string.IsNullOrEmpty(value) || value.Length > MaxLabelLength)
            {
                errors.Add(Invalid(field, $"every entry of {field} must be a non-empty string of at most {MaxLabelLength} characters (entry {i})", values[i]));
                continue;
            }

            if (!result.Contains(value, StringComparer.OrdinalIgnoreCase))
            {
                result.Add(value);
            }
        }

        return result;
    }

    private static BackendFieldError Invalid(string field, string message, string? input) =>
        new("value_error", field, message, input is null ? null : JsonValue.Create(input));

    private static BackendFieldError Invalid(string field, string message, int input) =>
        new("value_error", field, message, JsonValue.Create(input));
}
