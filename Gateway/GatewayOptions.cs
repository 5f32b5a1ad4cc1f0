using System.ComponentModel.DataAnnotations;

namespace DirectorsConsole.Gateway;

/// <summary>
/// The gateway's settings, read from the top level of the configuration like the rest of config.yaml, so
/// <c>ORCHESTRATOR_PORT</c> (or <c>port:</c> in config.yaml) sets <see cref="Port"/>.
/// </summary>
public sealed class GatewayOptions
{
    /// <summary>The address to listen on when <c>ASPNETCORE_URLS</c> is not set.</summary>
    [ConfigurationKeyName("host")]
    [Required(AllowEmptyStrings = false)]
    public string Host { get; set; } = "127.0.0.1";

    [ConfigurationKeyName("port")]
    [Range(1, 65535)]
    public int Port { get; set; } = 9820;

    /// <summary>Comma-separated origins; <c>*</c> for any. Empty: the local machine only.</summary>
    [ConfigurationKeyName("cors_origins")]
    public string? CorsOrigins { get; set; }

    /// <summary>How long a service may stay silent on a forwarded request before the caller gets a 504.
    /// Long enough for the worker API's long polls.</summary>
    [ConfigurationKeyName("upstream_timeout_seconds")]
    [Range(1, 3600)]
    public int UpstreamTimeoutSeconds { get; set; } = 100;

    /// <summary>How long a request is held while every replica of its service refuses connections (a
    /// service the AppHost is restarting) before the caller gets a 503. It covers the AppHost's first
    /// restarts (1 s, 2 s, 4 s back-off) and the start of a service on a busy machine, which can take
    /// over 10 s; 0 answers at once.</summary>
    [ConfigurationKeyName("restart_hold_seconds")]
    [Range(0, 300)]
    public int RestartHoldSeconds { get; set; } = 30;

    public TimeSpan RestartHold => TimeSpan.FromSeconds(RestartHoldSeconds);

    public TimeSpan UpstreamTimeout => TimeSpan.FromSeconds(UpstreamTimeoutSeconds);

    /// <summary>The URL Kestrel listens on when none is configured: <c>http://host:port</c>.</summary>
    public string DefaultUrl =>
        System.Net.IPAddress.TryParse(Host, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? $"http://[{Host}]:{Port}"
            : $"http://{Host}:{Port}";
}
