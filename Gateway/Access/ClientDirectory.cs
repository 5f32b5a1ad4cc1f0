using System.Security.Claims;
using DirectorsConsole.ServiceDefaults.Access;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.Gateway.Access;

/// <summary>A configured client with its token's SHA-256.</summary>
public sealed record KnownClient(string Name, ClientRole Role, byte[] TokenDigest);

/// <summary>
/// The clients of config.yaml with their token digests (from <c>token_sha256</c>, or the SHA-256 of the variable
/// <c>token_env</c> names, read once at start), and the role of a caller without a token. A presented token is
/// hashed and compared with every client's digest in constant time, all of them every time, so neither the
/// comparison nor the position of a client in the list shows in the time an answer takes.
/// </summary>
public sealed class ClientDirectory
{
    public const string AnonymousName = "anonymous";

    private readonly KnownClient[] _clients;

    public ClientDirectory(IOptions<AccessOptions> options)
        : this(options.Value, Environment.GetEnvironmentVariable)
    {
    }

    public ClientDirectory(AccessOptions options, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(options);
        _clients = options.Clients.Select(client => new KnownClient(
                client.Name!.Trim(),
                ClientRoles.TryParse(client.Role, out var role) ? role : ClientRole.None,
                ClientTokenDigest.TryParseHex(client.TokenSha256, out var digest)
                    ? digest
                    : ClientTokenDigest.Of(environment(client.TokenEnv!.Trim()) ?? "")))
            .ToArray();
        AnonymousRole = options.EffectiveAnonymousRole;
    }

    public IReadOnlyList<KnownClient> Clients => _clients;

    public ClientRole AnonymousRole { get; }

    /// <summary>The client whose token this is, or null.</summary>
    public KnownClient? Find(string token)
    {
        var presented = ClientTokenDigest.Of(token);
        KnownClient? found = null;
        foreach (var client in _clients)
        {
            if (ClientTokenDigest.Matches(presented, client.TokenDigest))
            {
                found ??= client;
            }
        }

        return found;
    }

    /// <summary>The principal the gateway gives a request that presented <paramref name="client"/>'s token.</summary>
    public static ClaimsPrincipal PrincipalOf(KnownClient client, string authenticationType) =>
        new(new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, client.Name), new Claim(ClaimTypes.Role, client.Role.Name())],
            authenticationType));

    /// <summary>The name and role a request acts with: its client's, or <see cref="AnonymousName"/> and the anonymous role.</summary>
    public (string Name, ClientRole Role) CallerOf(ClaimsPrincipal user) =>
        user.Identity is { IsAuthenticated: true, Name: { } name } && ClientRoles.TryParse(user.FindFirstValue(ClaimTypes.Role), out var role)
            ? (name, role)
            : (AnonymousName, AnonymousRole);
}
