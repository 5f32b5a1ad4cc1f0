using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DirectorsConsole.ServiceDefaults.Configuration;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Webhooks;

/// <summary>
/// The suite's webhook secret and what is signed with it: each delivery (HMAC-SHA256 of <c>timestamp + "." + body</c>,
/// so a receiver can refuse a replayed or altered request) and each approval link (HMAC-SHA256 of the job's or group's
/// id, so the link decides that job or group only).
/// </summary>
public sealed class WebhookSigner
{
    /// <summary>The file under <c>data_dir</c> holding the generated secret when none is configured.</summary>
    public const string SecretFileName = "webhook-secret";

    private readonly byte[] _key;

    public WebhookSigner(IOptions<WebhookOptions> options, IOptions<OrchestratorOptions> orchestrator, ILogger<WebhookSigner> logger)
    {
        var configured = options.Value.Secret;
        _key = Encoding.UTF8.GetBytes(string.IsNullOrEmpty(configured)
            ? LoadOrCreate(Path.Combine(orchestrator.Value.DataDirectory, SecretFileName), logger)
            : configured);
    }

    /// <summary>The signature header's value: <c>sha256=</c> and the lowercase hex HMAC of <c>timestamp.body</c>.</summary>
    public string SignDelivery(long unixSeconds, string body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(unixSeconds.ToString(CultureInfo.InvariantCulture) + "." + body)));

    /// <summary>The signature of a job's or group's approval link (URL-safe lowercase hex). Job and group ids never
    /// coincide, so a job's link cannot decide a group or the other way round.</summary>
    public string SignApproval(string jobOrGroupId) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes("approval:" + jobOrGroupId)));

    /// <summary>Whether <paramref name="signature"/> is the approval signature of <paramref name="jobOrGroupId"/>, compared in constant time.</summary>
    public bool IsApprovalSignature(string jobOrGroupId, string? signature) =>
        signature is not null
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(SignApproval(jobOrGroupId)), Encoding.ASCII.GetBytes(signature));

    private static string LoadOrCreate(string path, ILogger logger)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        try
        {
            // CreateNew: of two replicas starting at once on one data_dir, one writes and the other reads its secret.
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            using (var writer = new StreamWriter(new FileStream(path, options)))
            {
                writer.Write(secret);
            }

            logger.LogInformation("No webhook_secret is configured; generated one in {SecretFile} (readable by this user only)", path);
            return secret;
        }
        catch (IOException) when (File.Exists(path))
        {
            for (var attempt = 0; ; attempt++)
            {
                var secret = File.ReadAllText(path).Trim();
                if (secret.Length > 0 || attempt == 20)
                {
                    if (secret.Length == 0)
                    {
                        throw new InvalidOperationException($"The webhook secret file {path} is empty; delete it or set webhook_secret.");
                    }

                    logger.LogInformation("No webhook_secret is configured; using the one generated in {SecretFile}", path);
                    return secret;
                }

                // Another replica created the file a moment ago and is still writing it.
                Thread.Sleep(50);
            }
        }
    }
}
