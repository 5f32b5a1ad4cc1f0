using System.Globalization;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Redis;

/// <summary>Settings of the Redis client. The connection string comes from <c>ConnectionStrings:redis</c>;
/// the rest from the <c>Redis</c> section. Timeouts given in the connection string win, as they do for
/// StackExchange.Redis, so an Aspire-style connection string means the same thing here.</summary>
public sealed class RedisOptions
{
    public const string SectionName = "Redis";

    /// <summary><c>host:port[,password=…][,user=…][,connectTimeout=ms][,syncTimeout=ms][,protocol=resp3][,name=…]</c>.</summary>
    public string? ConnectionString { get; set; }

    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The largest reply (one bulk string, or one aggregate with everything in it) the client accepts.</summary>
    public long MaxReplyBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>The first delay before reconnecting; it doubles on every failed attempt up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a command waits for a lost connection to come back before it fails: long enough for a
    /// restarted server (the AppHost restarts the embedded one after 1 s, then it starts and replays its append-only
    /// file: about 12 s in all on a busy 2-core machine).
    /// Commands not yet sent wait; a read whose reply was lost with the connection is sent again; a write that may
    /// have reached the server is never sent twice and fails at once. Zero: commands wait only the command timeout.</summary>
    public TimeSpan OutageGrace { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The name given to CLIENT SETNAME, so connections can be told apart in CLIENT LIST.
    /// Defaults to the entry assembly's name.</summary>
    public string? ClientName { get; set; }

    /// <summary>The effective settings: the connection string parsed and merged with the other options.</summary>
    internal RedisEndpointSettings Resolve()
    {
        var parsed = RedisConnectionString.Parse(ConnectionString
            ?? throw new InvalidOperationException("The Redis connection string is not set."));
        return new RedisEndpointSettings(
            parsed.Host,
            parsed.Port,
            parsed.User,
            parsed.Password,
            parsed.Resp3,
            parsed.ClientName ?? ClientName ?? System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? "DirectorsConsole",
            parsed.SyncTimeout ?? CommandTimeout,
            parsed.ConnectTimeout ?? ConnectTimeout,
            MaxReplyBytes,
            ReconnectMinDelay,
            ReconnectMaxDelay,
            OutageGrace);
    }
}

internal sealed record RedisEndpointSettings(
    string Host,
    int Port,
    string? User,
    string? Password,
    bool Resp3,
    string ClientName,
    TimeSpan CommandTimeout,
    TimeSpan ConnectTimeout,
    long MaxReplyBytes,
    TimeSpan ReconnectMinDelay,
    TimeSpan ReconnectMaxDelay,
    TimeSpan OutageGrace)
{
    public string Endpoint => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>How long a command not yet sent may wait for the connection.</summary>
    public TimeSpan ConnectionWait => CommandTimeout > OutageGrace ? CommandTimeout : OutageGrace;
}

/// <summary>A parsed StackExchange.Redis-style connection string (the subset this client supports).</summary>
public sealed record RedisConnectionString(
    string Host,
    int Port,
    string? User,
    string? Password,
    bool Resp3,
    string? ClientName,
    TimeSpan? ConnectTimeout,
    TimeSpan? SyncTimeout)
{
    public const int DefaultPort = 6379;

    // Options StackExchange.Redis users commonly add that change nothing for this client.
    private static readonly HashSet<string> IgnoredOptions =
        new(["abortConnect", "connectRetry", "allowAdmin", "keepAlive", "asyncTimeout", "defaultDatabase"], StringComparer.OrdinalIgnoreCase);

    /// <summary>Parses the connection string; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static RedisConnectionString Parse(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        string? host = null;
        var port = DefaultPort;
        string? user = null, password = null, name = null;
        var resp3 = false;
        TimeSpan? connectTimeout = null, syncTimeout = null;

        foreach (var rawPart in connectionString.Split(','))
        {
            var part = rawPart.Trim();
            if (part.Length == 0)
            {
                continue;
            }

            var equals = part.IndexOf('=');
            if (equals < 0)
            {
                if (host is not null)
                {
                    throw new FormatException($"Only one endpoint is supported, but the connection string names '{host}' and '{part}'.");
                }

                (host, port) = ParseEndpoint(part);
                continue;
            }

            var key = part[..equals].Trim();
            var value = part[(equals + 1)..].Trim();
            switch (key.ToLowerInvariant())
            {
                case "password":
                    password = value;
                    break;
                case "user":
                    user = value;
                    break;
                case "name":
                    name = value;
                    break;
                case "connecttimeout":
                    connectTimeout = ParseMilliseconds(key, value);
                    break;
                case "synctimeout":
                    syncTimeout = ParseMilliseconds(key, value);
                    break;
                case "protocol":
                    resp3 = value.ToLowerInvariant() switch
                    {
                        "resp3" or "3" => true,
                        "resp2" or "2" => false,
                        _ => throw new FormatException($"protocol must be 'resp2' or 'resp3', not '{value}'."),
                    };
                    break;
                case "ssl":
                    if (bool.TryParse(value, out var ssl) && ssl)
                    {
                        throw new FormatException("TLS (ssl=true) is not supported by this Redis client.");
                    }

                    break;
                default:
                    if (!IgnoredOptions.Contains(key))
                    {
                        throw new FormatException($"Unknown Redis connection string option '{key}'.");
                    }

                    break;
            }
        }

        if (host is null)
        {
            throw new FormatException("The Redis connection string names no endpoint (expected 'host:port').");
        }

        return new RedisConnectionString(host, port, user, password, resp3, name, connectTimeout, syncTimeout);
    }

    private static (string Host, int Port) ParseEndpoint(string endpoint)
    {
        string host;
        string? portText = null;
        if (endpoint.StartsWith('['))
        {
            var close = endpoint.IndexOf(']');
            if (close < 0)
            {
                throw new FormatException($"'{endpoint}' is not a valid endpoint.");
            }

            host = endpoint[1..close];
            if (close + 1 < endpoint.Length)
            {
                portText = endpoint[(close + 1)..].TrimStart(':');
            }
        }
        else
        {
            var colon = endpoint.LastIndexOf(':');
            host = colon < 0 ? endpoint : endpoint[..colon];
            portText = colon < 0 ? null : endpoint[(colon + 1)..];
        }

        if (host.Length == 0)
        {
            throw new FormatException($"'{endpoint}' names no host.");
        }

        if (portText is null)
        {
            return (host, DefaultPort);
        }

        return int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535
            ? (host, port)
            : throw new FormatException($"'{portText}' is not a valid port in '{endpoint}'.");
    }

    private static TimeSpan ParseMilliseconds(string key, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms > 0
            ? TimeSpan.FromMilliseconds(ms)
            : throw new FormatException($"{key} must be a positive number of milliseconds, not '{value}'.");
}

/// <summary>Checks the options at start, so a bad connection string stops the service with a clear message
/// instead of failing on the first command.</summary>
internal sealed class RedisOptionsValidator(string connectionName) : IValidateOptions<RedisOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            failures.Add($"ConnectionStrings:{connectionName} is not set; expected 'host:port[,password=…]'.");
        }
        else
        {
            try
            {
                RedisConnectionString.Parse(options.ConnectionString);
            }
            catch (FormatException ex)
            {
                failures.Add($"ConnectionStrings:{connectionName} is invalid: {ex.Message}");
            }
        }

        RequirePositive(failures, nameof(options.CommandTimeout), options.CommandTimeout);
        RequirePositive(failures, nameof(options.ConnectTimeout), options.ConnectTimeout);
        RequirePositive(failures, nameof(options.ReconnectMinDelay), options.ReconnectMinDelay);
        if (options.ReconnectMaxDelay < options.ReconnectMinDelay)
        {
            failures.Add($"Redis:{nameof(options.ReconnectMaxDelay)} ({options.ReconnectMaxDelay}) must not be less than {nameof(options.ReconnectMinDelay)} ({options.ReconnectMinDelay}).");
        }

        if (options.OutageGrace < TimeSpan.Zero)
        {
            failures.Add($"Redis:{nameof(options.OutageGrace)} must not be negative, not {options.OutageGrace}.");
        }

        if (options.MaxReplyBytes < 1024)
        {
            failures.Add($"Redis:{nameof(options.MaxReplyBytes)} must be at least 1024 bytes, not {options.MaxReplyBytes}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void RequirePositive(List<string> failures, string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            failures.Add($"Redis:{name} must be positive, not {value}.");
        }
    }
}
