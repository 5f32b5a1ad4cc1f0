using System.Globalization;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Access;

/// <summary>
/// Refuses, at start, access settings that cannot mean what their author wanted: a client without a name, a
/// duplicate name, an unknown role, a token given both ways or neither, a hash that is not 64 hex digits, an unknown
/// <c>anonymous_role</c>, a worker token that is malformed, a bound worker listed twice or without a usable id, clients without a Gateway secret (their tokens could be walked around), or a secret too
/// short to guess at. Every problem is listed, each naming the entry.
/// </summary>
public sealed class AccessOptionsValidator : IValidateOptions<AccessOptions>
{
    /// <summary>Shorter secrets could be guessed by a local process knocking on a service port.</summary>
    public const int MinimumGatewaySecretLength = 16;

    public ValidateOptionsResult Validate(string? name, AccessOptions options)
    {
        var errors = Problems(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public static IReadOnlyList<string> Problems(AccessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.Clients.Count; i++)
        {
            var client = options.Clients[i];
            var label = string.IsNullOrWhiteSpace(client.Name) ? $"clients[{i.ToString(CultureInfo.InvariantCulture)}]" : $"client '{client.Name}'";
            if (string.IsNullOrWhiteSpace(client.Name))
            {
                errors.Add($"{label}: 'name' is required.");
            }
            else if (!names.Add(client.Name.Trim()))
            {
                errors.Add($"{label}: the name is used by more than one client.");
            }

            if (!ClientRoles.TryParse(client.Role, out var role) || role == ClientRole.None)
            {
                errors.Add($"{label}: 'role' must be viewer, operator or admin, not '{client.Role}'.");
            }

            var hasHash = !string.IsNullOrWhiteSpace(client.TokenSha256);
            var hasEnv = !string.IsNullOrWhiteSpace(client.TokenEnv);
            if (hasHash == hasEnv)
            {
                errors.Add($"{label}: give exactly one of 'token_sha256' (the token's SHA-256 in hex) and 'token_env' (a variable holding the token).");
            }
            else if (hasHash && !ClientTokenDigest.TryParseHex(client.TokenSha256, out _))
            {
                errors.Add($"{label}: 'token_sha256' must be 64 hexadecimal digits (the SHA-256 of the token, e.g. from sha256sum), not '{client.TokenSha256}'.");
            }
        }

        errors.AddRange(WorkerProblems(options));
        if (options.AnonymousRole is not null && !ClientRoles.TryParse(options.AnonymousRole, out _))
        {
            errors.Add($"'anonymous_role' must be none, viewer, operator or admin, not '{options.AnonymousRole}'.");
        }

        if (options.GatewaySecret is { } secret && secret.Trim().Length < MinimumGatewaySecretLength)
        {
            errors.Add($"'gateway_secret' must be at least {MinimumGatewaySecretLength} characters long.");
        }
        else if (options.Clients.Count > 0 && string.IsNullOrWhiteSpace(options.GatewaySecret))
        {
            errors.Add("clients are configured but no 'gateway_secret' (ORCHESTRATOR_GATEWAY_SECRET) is set, so a service's own port would " +
                       "answer without a token. The AppHost sets one itself; services run without it need the same secret on every host.");
        }

        return errors;
    }

    /// <summary>A worker id as a backend id: it becomes the id of the agent's backend.</summary>
    private static readonly System.Text.RegularExpressions.Regex WorkerIdPattern = new("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");

    private static IEnumerable<string> WorkerProblems(AccessOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.WorkerTokenSha256) && !ClientTokenDigest.TryParseHex(options.WorkerTokenSha256, out _))
        {
            yield return $"'worker_token_sha256' must be 64 hexadecimal digits (the SHA-256 of the shared worker token), not '{options.WorkerTokenSha256}'.";
        }

        if (options.WorkerToken is { } token && token.Trim().Length < MinimumGatewaySecretLength)
        {
            yield return $"'worker_token' (ORCHESTRATOR_WORKER_TOKEN) must be at least {MinimumGatewaySecretLength} characters long.";
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Workers.Count; i++)
        {
            var worker = options.Workers[i];
            var id = worker.WorkerId?.Trim();
            var label = string.IsNullOrEmpty(id) ? $"workers[{i.ToString(CultureInfo.InvariantCulture)}]" : $"worker '{id}'";
            if (string.IsNullOrEmpty(id))
            {
                yield return $"{label}: 'worker_id' is required.";
            }
            else if (!WorkerIdPattern.IsMatch(id))
            {
                yield return $"{label}: 'worker_id' must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit.";
            }
            else if (!ids.Add(id))
            {
                yield return $"{label}: the worker id is listed more than once.";
            }

            var hasHash = !string.IsNullOrWhiteSpace(worker.TokenSha256);
            if (hasHash == !string.IsNullOrWhiteSpace(worker.TokenEnv))
            {
                yield return $"{label}: give exactly one of 'token_sha256' (the token's SHA-256 in hex) and 'token_env' (a variable holding the token).";
            }
            else if (hasHash && !ClientTokenDigest.TryParseHex(worker.TokenSha256, out _))
            {
                yield return $"{label}: 'token_sha256' must be 64 hexadecimal digits (the SHA-256 of the token, e.g. from sha256sum), not '{worker.TokenSha256}'.";
            }
        }
    }

    /// <summary>Clients whose <c>token_env</c> names a variable that is unset or empty in <paramref name="environment"/>.
    /// Checked only where tokens are read (the Gateway, and the AppHost whose environment the Gateway inherits).</summary>
    public static IReadOnlyList<string> TokenVariableProblems(AccessOptions options, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(environment);
        return options.Clients
            .Where(client => !string.IsNullOrWhiteSpace(client.TokenEnv) && string.IsNullOrEmpty(environment(client.TokenEnv.Trim())))
            .Select(client => $"client '{client.Name}': the environment variable '{client.TokenEnv}' named by 'token_env' is not set.")
            .Concat(options.Workers
                .Where(worker => !string.IsNullOrWhiteSpace(worker.TokenEnv) && string.IsNullOrEmpty(environment(worker.TokenEnv.Trim())))
                .Select(worker => $"worker '{worker.WorkerId}': the environment variable '{worker.TokenEnv}' named by 'token_env' is not set."))
            .ToArray();
    }
}
