using System.Globalization;
using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Infrastructure;

/// <summary>The backends config.yaml's <c>backends</c> list and <c>ORCHESTRATOR_COMFY_NODES</c> define, read
/// from configuration and validated at start (<see cref="BackendSeedOptionsValidator"/>); <see cref="Problems"/>
/// says what is wrong with which entry.</summary>
public sealed class BackendSeedOptions
{
    /// <summary>config.yaml's list (<c>backends:0:host</c>…).</summary>
    public const string SectionName = "backends";

    /// <summary><c>ORCHESTRATOR_COMFY_NODES</c> without its prefix: <c>host[:port],…</c> or <c>http://host:port,…</c>.</summary>
    public const string ComfyNodesKey = "COMFY_NODES";

    public IReadOnlyList<BackendDefinition> Backends { get; set; } = [];

    public IReadOnlyList<string> Problems { get; set; } = [];

    /// <summary>Reads and validates both sources. config.yaml entries take config.yaml's defaults (port 8188,
    /// enabled, no capabilities or tags, max_concurrent_jobs 1, JobService's default prefetch, name = id,
    /// id = <c>host_port</c>); COMFY_NODES entries get the id and name <c>host_port</c>. A COMFY_NODES node whose id config.yaml
    /// already defines is left to config.yaml.</summary>
    public static void Read(BackendSeedOptions options, IConfiguration configuration)
    {
        var backends = new List<BackendDefinition>();
        var problems = new List<string>();
        // Configuration keys ignore case, so the Backends:Leases and Backends:Probe settings are children of
        // this section too; the list's entries are the numbered ones.
        foreach (var entry in configuration.GetSection(SectionName).GetChildren().Where(c => int.TryParse(c.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
        {
            var where = $"config.yaml backends[{entry.Key}]";
            var request = ReadEntry(entry, where, problems);
            if (request is null)
            {
                continue;
            }

            var validation = BackendValidator.Validate(request, BackendSource.Config);
            var label = request.Id is not null ? $"{where} (id '{request.Id}')"
                : request.Host is not null ? $"{where} (host '{request.Host}')"
                : where;
            if (!validation.IsValid)
            {
                problems.Add($"{label} is invalid: {string.Join("; ", validation.Errors.Select(e => $"{e.Field}: {e.Message}"))}.");
            }
            else if (backends.Any(b => b.Id == validation.Backend!.Id))
            {
                problems.Add($"{label} repeats the id '{validation.Backend!.Id}' of an earlier entry; ids must be unique.");
            }
            else
            {
                backends.Add(validation.Backend!);
            }
        }

        foreach (var node in (configuration[ComfyNodesKey] ?? "").Split([',', ';', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (ParseNode(node, out var host, out var port) is { } error)
            {
                problems.Add($"ORCHESTRATOR_COMFY_NODES entry '{node}' is invalid: {error}.");
                continue;
            }

            var validation = BackendValidator.Validate(new BackendRequest(null, null, host, port, true, [], 1, []), BackendSource.Environment);
            if (!validation.IsValid)
            {
                problems.Add($"ORCHESTRATOR_COMFY_NODES entry '{node}' is invalid: {string.Join("; ", validation.Errors.Select(e => $"{e.Field}: {e.Message}"))}.");
            }
            else if (backends.All(b => b.Id != validation.Backend!.Id))
            {
                backends.Add(validation.Backend!);
            }
        }

        options.Backends = backends;
        options.Problems = problems;
    }

    private static BackendRequest? ReadEntry(IConfigurationSection entry, string where, List<string> problems)
    {
        var before = problems.Count;
        int? Int(string key)
        {
            var text = entry[key];
            if (text is null)
            {
                return null;
            }

            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                return value;
            }

            problems.Add($"{where}: {key} '{text}' is not a whole number.");
            return null;
        }

        bool? Bool(string key)
        {
            var text = entry[key];
            switch (text?.Trim().ToLowerInvariant())
            {
                case null:
                    return null;
                case "true" or "yes" or "on" or "1":
                    return true;
                case "false" or "no" or "off" or "0":
                    return false;
                default:
                    problems.Add($"{where}: {key} '{text}' is not true or false.");
                    return null;
            }
        }

        IReadOnlyList<string?>? List(string key)
        {
            var section = entry.GetSection(key);
            // A YAML list arrives as key:0, key:1…; a single scalar is accepted as a one-entry list.
            return section.GetChildren().Any() ? section.GetChildren().Select(child => child.Value).ToArray()
                : section.Value is { } single ? [single]
                : null;
        }

        var request = new BackendRequest(
            entry["id"], entry["name"], entry["host"], Int("port"), Bool("enabled"), List("capabilities"), Int("max_concurrent_jobs"), List("tags"))
        {
            Prefetch = Int("prefetch"),
        };
        return problems.Count == before ? request : null;
    }

    /// <summary>Parses <c>host</c>, <c>host:port</c>, <c>[v6]:port</c> or <c>http://host:port[/]</c>.</summary>
    private static string? ParseNode(string node, out string host, out int? port)
    {
        host = node;
        port = null;
        var text = node;
        if (text.Contains("://", StringComparison.Ordinal))
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
            {
                return "only http:// addresses are supported (ComfyUI speaks plain HTTP)";
            }

            if (uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
            {
                return "give the node's address only (http://host:port), without path, query or credentials";
            }

            host = uri.IdnHost;
            port = uri.IsDefaultPort && !text.Contains($":{uri.Port}", StringComparison.Ordinal) ? null : uri.Port;
            return null;
        }

        string? portText = null;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']');
            if (close < 0)
            {
                return "an IPv6 address in brackets lacks its closing ']'";
            }

            host = text[1..close];
            portText = close + 1 < text.Length ? text[(close + 1)..].TrimStart(':') : null;
        }
        else if (text.Count(c => c == ':') == 1)
        {
            host = text[..text.IndexOf(':')];
            portText = text[(text.IndexOf(':') + 1)..];
        }

        if (portText is not null)
        {
            if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                return $"'{portText}' is not a port number";
            }

            port = parsed;
        }

        return null;
    }
}

/// <summary>Stops start-up when a configured backend is invalid, naming the entry and the problem.</summary>
public sealed class BackendSeedOptionsValidator : IValidateOptions<BackendSeedOptions>
{
    public ValidateOptionsResult Validate(string? name, BackendSeedOptions options) =>
        options.Problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(options.Problems);
}

/// <summary>
/// Adds the configured backends to the registry at start. Seeding adds only ids Redis does not have yet and
/// never those deleted through the API, so a backend the user edited or removed stays as they left it, and
/// replicas starting together add each backend once. Retries while Redis is unreachable.
/// </summary>
public sealed class BackendSeeder(
    BackendRegistry registry, IOptions<BackendSeedOptions> options, TimeProvider timeProvider, ILogger<BackendSeeder> logger) : BackgroundService
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pending = new Queue<BackendDefinition>(options.Value.Backends);
        var listedByVariable = options.Value.Backends.Where(b => b.Source == BackendSource.Environment).Select(b => b.Id).ToHashSet();
        var pruned = false;
        var delay = TimeSpan.FromMilliseconds(500);
        var added = 0;
        while ((!pruned || pending.Count > 0) && !stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!pruned)
                {
                    foreach (var id in await registry.RemoveUnlistedEnvironmentBackendsAsync(listedByVariable, stoppingToken))
                    {
                        logger.LogInformation("Removed backend {Id}: ORCHESTRATOR_COMFY_NODES no longer lists it", id);
                    }

                    pruned = true;
                    continue;
                }

                if (await registry.SeedAsync(pending.Peek(), stoppingToken))
                {
                    added++;
                    logger.LogInformation("Added backend {Id} ({Host}:{Port}) from {Source}", pending.Peek().Id, pending.Peek().Host, pending.Peek().Port, pending.Peek().Source);
                }

                pending.Dequeue();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Could not seed {What}; retrying in {Delay}", pruned ? $"backend {pending.Peek().Id}" : "the backends", delay);
                try
                {
                    await Task.Delay(delay, timeProvider, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            }
        }

        if (options.Value.Backends.Count > 0)
        {
            logger.LogInformation("Seeded {Added} of {Total} configured backends (the others exist already or were deleted through the API)", added, options.Value.Backends.Count);
        }
    }
}
