using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Hosting;

/// <summary>
/// The largest request body any process of the suite accepts, read from the top level of the configuration
/// (<c>max_request_body_mb</c> in config.yaml, <c>ORCHESTRATOR_MAX_REQUEST_BODY_MB</c>), so the Gateway and the
/// services behind it agree on it.
/// </summary>
public sealed class RequestLimitsOptions
{
    [ConfigurationKeyName("max_request_body_mb")]
    [Range(1, 102_400)]
    public int MaxRequestBodyMb { get; set; } = 100;

    public long MaxRequestBodyBytes => MaxRequestBodyMb * 1024L * 1024L;

    public string BodyTooLargeDetail =>
        $"The request body is larger than the {MaxRequestBodyMb} MB the suite accepts (max_request_body_mb).";
}

/// <summary>
/// Size limits on the request line and headers. Kestrel rejects what exceeds its own limits before any
/// middleware runs, with an empty body; so its limits are set well above the suite's, and
/// <see cref="RequestGuard"/> answers what lies in between with a JSON problem that says what is too long.
/// </summary>
public static class RequestLimits
{
    /// <summary>Longest request target (path and query, as sent) accepted: Kestrel's usual request line limit.</summary>
    public const int MaxRequestTargetLength = 8 * 1024;

    /// <summary>Largest total of header names and values accepted: Kestrel's usual header limit.</summary>
    public const int MaxRequestHeadersBytes = 32 * 1024;

    /// <summary>Kestrel's limits, with room for what the Gateway adds when it forwards a request that passed
    /// its own check (forwarding headers, a path it re-encodes).</summary>
    public const int KestrelMaxRequestLineSize = 64 * 1024;

    public const int KestrelMaxRequestHeadersTotalSize = 64 * 1024;

    public static IHostApplicationBuilder AddRequestLimits(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RequestLimitsOptions>()
            .Bind(builder.Configuration)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<RequestLimitsOptions>>((kestrel, limits) =>
        {
            kestrel.Limits.MaxRequestBodySize = limits.Value.MaxRequestBodyBytes;
            kestrel.Limits.MaxRequestLineSize = KestrelMaxRequestLineSize;
            kestrel.Limits.MaxRequestHeadersTotalSize = KestrelMaxRequestHeadersTotalSize;
        });
        return builder;
    }
}
