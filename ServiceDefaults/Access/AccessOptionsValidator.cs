using System.Globalization;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Access;

/// <summary>
/// Refuses, at start, access settings that cannot mean what their author wanted: a client without a name, a
/// duplicate name, an unknown role, a token given both ways or neither, a hash that is not 64 hex digits, an unknown
/// <c>anonymous_role</c>, clients without a Gateway secret (their tokens could be walked around), or a secret too
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

    /// <summary>Clients whose <c>token_env</c> names a variable that is unset or empty in <paramref name="environment"/>.
    /// Checked only where tokens are read (the Gateway, and the AppHost whose environment the Gateway inherits).</summary>
    public static IReadOnlyList<string> TokenVariableProblems(AccessOptions options, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(environment);
        return options.Clients
            .Where(client => !string.IsNullOrWhiteSpace(client.TokenEnv) && string.IsNullOrEmpty(environment(client.TokenEnv.Trim())))
            .Select(client => $"client '{client.Name}': the environment variable '{client.TokenEnv}' named by 'token_env' is not set.")
            .ToArray();
    }
}
