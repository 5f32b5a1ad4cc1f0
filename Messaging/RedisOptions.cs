using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace DirectorsConsole.Messaging;

/// <summary>Settings of the Redis client. The connection string (StackExchange.Redis syntax) comes from
/// <c>ConnectionStrings:redis</c>; the rest from the <c>Redis</c> section and is applied over what the connection
/// string says.</summary>
public sealed class RedisOptions
{
    public const string SectionName = "Redis";

    /// <summary><c>host:port[,password=…][,user=…][,connectTimeout=ms][,syncTimeout=ms][,protocol=resp3][,name=…]</c>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>How long a command waits for its reply (StackExchange.Redis's sync and async timeouts).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The first delay before reconnecting; it grows on every failed attempt up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a command keeps being retried while the connection is lost: long enough for a restarted
    /// server (the AppHost restarts the embedded one after 1 s, then it starts and replays its append-only file: about
    /// 12 s in all on a busy 2-core machine). A command that never left this process is retried, whatever it does; a
    /// read whose reply was lost with the connection is sent again, and so is a write whose caller said it is safe to
    /// send again (<see cref="OnLostReply.Resend"/>); any other write that may have reached the server is never sent
    /// twice and fails at once. Zero: a command fails after one command timeout.</summary>
    public TimeSpan OutageGrace { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>After every write, send <c>COMMITAOF</c> and wait for its reply before the write's caller goes on: for a
    /// Garnet that commits its append-only file without making replies wait for it (<c>--aof-commit-freq 0</c> without
    /// <c>--aof-commit-wait</c>), as the AppHost runs the embedded one. A write then returns only once it is in the
    /// file, as with a server that waits itself, while the server waits once per commit instead of once per write
    /// command. Off: the server's own setting decides (Redis's <c>appendfsync always</c>, Garnet's commit wait).</summary>
    public bool CommitWrites { get; set; }

    /// <summary>The name given to CLIENT SETNAME, so connections can be told apart in CLIENT LIST.
    /// Defaults to the entry assembly's name.</summary>
    public string? ClientName { get; set; }

    /// <summary>The client settings: the connection string parsed, with these options applied.</summary>
    public ConfigurationOptions ToConfigurationOptions()
    {
        var configuration = ConfigurationOptions.Parse(ConnectionString
            ?? throw new InvalidOperationException("The Redis connection string is not set."));
        configuration.AbortOnConnectFail = false;
        Apply(configuration);
        return configuration;
    }

    /// <summary>Applies these options to settings parsed from the connection string.</summary>
    public void Apply(ConfigurationOptions configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        configuration.SyncTimeout = (int)CommandTimeout.TotalMilliseconds;
        configuration.AsyncTimeout = (int)CommandTimeout.TotalMilliseconds;
        configuration.ConnectTimeout = (int)ConnectTimeout.TotalMilliseconds;
        configuration.ReconnectRetryPolicy = new ExponentialRetry(
            (int)ReconnectMinDelay.TotalMilliseconds, (int)ReconnectMaxDelay.TotalMilliseconds);
        // Commands issued while the connection is down wait in the client's backlog (up to the command timeout) and
        // go out in order once it is back; RedisConnection retries them within the outage grace.
        configuration.BacklogPolicy = BacklogPolicy.Default;
        // The durability monitor reads INFO persistence and CONFIG GET dir and may SAVE: admin commands.
        configuration.AllowAdmin = true;
        configuration.ClientName ??= ClientName ?? System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? "DirectorsConsole";
    }
}

/// <summary>Checks the options at start, so a bad connection string stops the service with a clear message
/// instead of failing on the first command.</summary>
internal sealed class RedisOptionsValidator(string connectionName) : IValidateOptions<RedisOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisOptions options)
    {
        var failures = new OptionsFailures(RedisOptions.SectionName);
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            failures.Add($"ConnectionStrings:{connectionName} is not set; expected 'host:port[,password=…]'.");
        }
        else
        {
            try
            {
                if (ConfigurationOptions.Parse(options.ConnectionString).EndPoints.Count == 0)
                {
                    failures.Add($"ConnectionStrings:{connectionName} names no endpoint (expected 'host:port').");
                }
            }
            catch (ArgumentException ex)
            {
                failures.Add($"ConnectionStrings:{connectionName} is invalid: {ex.Message}");
            }
        }

        failures.RequirePositive(options.CommandTimeout, nameof(options.CommandTimeout));
        failures.RequirePositive(options.ConnectTimeout, nameof(options.ConnectTimeout));
        failures.RequirePositive(options.ReconnectMinDelay, nameof(options.ReconnectMinDelay));
        if (options.ReconnectMaxDelay < options.ReconnectMinDelay)
        {
            failures.Add($"{failures.Key(nameof(options.ReconnectMaxDelay))} ({options.ReconnectMaxDelay}) must not be less than {nameof(options.ReconnectMinDelay)} ({options.ReconnectMinDelay}).");
        }

        if (options.OutageGrace < TimeSpan.Zero)
        {
            failures.Add($"{failures.Key(nameof(options.OutageGrace))} must not be negative, not {options.OutageGrace}.");
        }

        return failures.ToResult();
    }
}
