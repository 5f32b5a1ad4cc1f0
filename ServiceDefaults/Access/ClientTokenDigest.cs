using System.Security.Cryptography;
using System.Text;

namespace DirectorsConsole.ServiceDefaults.Access;

/// <summary>
/// Tokens and secrets are compared as their SHA-256 digests, in constant time: the digests always have the same
/// length, and <see cref="CryptographicOperations.FixedTimeEquals"/> takes as long for a near miss as for a wild one,
/// so timing tells a caller nothing about how much of a guess was right.
/// </summary>
public static class ClientTokenDigest
{
    public const int Length = SHA256.HashSizeInBytes;

    public static byte[] Of(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    public static bool Matches(ReadOnlySpan<byte> presentedDigest, ReadOnlySpan<byte> expectedDigest) =>
        CryptographicOperations.FixedTimeEquals(presentedDigest, expectedDigest);

    /// <summary>Reads 64 hexadecimal digits (either case, surrounding spaces ignored).</summary>
    public static bool TryParseHex(string? text, out byte[] digest)
    {
        digest = [];
        var trimmed = text?.Trim();
        if (trimmed is not { Length: Length * 2 } || !trimmed.All(char.IsAsciiHexDigit))
        {
            return false;
        }

        digest = Convert.FromHexString(trimmed);
        return true;
    }

    /// <summary>The lowercase hex form config.yaml's <c>token_sha256</c> takes.</summary>
    public static string Hex(string token) => Convert.ToHexStringLower(Of(token));
}
