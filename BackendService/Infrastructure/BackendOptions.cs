using System.ComponentModel.DataAnnotations;

namespace DirectorsConsole.BackendService.Infrastructure;

/// <summary>How replicas share backends (section <c>Backends:Leases</c>). A replica renews its leases every
/// <see cref="RenewalInterval"/>; a lease not renewed for <see cref="Ttl"/> (a replica killed) expires and
/// another replica takes the backend, so the TTL is how long a dead replica's backends wait for dispatch.</summary>
public sealed class BackendLeaseOptions : IValidatableObject
{
    public const string SectionName = "Backends:Leases";

    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(2);

    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan RenewalInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long a peer's presence channel must stay without subscriber (its Redis connection closed) before
    /// the peer is taken for dead and its leases are taken at once: a connection that merely broke is re-subscribed
    /// by its client within this time or loses its leases in a short hand-over.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:05:00")]
    public TimeSpan PresenceConfirmation { get; set; } = TimeSpan.FromMilliseconds(250);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (PresenceConfirmation >= Ttl)
        {
            yield return new ValidationResult(
                $"{SectionName}:PresenceConfirmation ({PresenceConfirmation}) must be shorter than {SectionName}:Ttl ({Ttl}): beyond it, the lease expires first.",
                [nameof(PresenceConfirmation), nameof(Ttl)]);
        }

        if (RenewalInterval * 2 > Ttl)
        {
            yield return new ValidationResult(
                $"{SectionName}:RenewalInterval ({RenewalInterval}) must be at most half of {SectionName}:Ttl ({Ttl}), so a lease survives one failed renewal.",
                [nameof(RenewalInterval), nameof(Ttl)]);
        }
    }
}

/// <summary>How backends are probed (section <c>Backends:Probe</c>): <c>/system_stats</c> and <c>/queue</c>
/// every <see cref="Interval"/>, each answer awaited at most <see cref="Timeout"/> (a node that does not answer
/// in time is offline); <c>/object_info</c> on every (re)connect and every <see cref="ObjectInfoInterval"/>.</summary>
public sealed class BackendProbeOptions : IValidatableObject
{
    public const string SectionName = "Backends:Probe";

    [Range(typeof(TimeSpan), "00:00:00.050", "00:05:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(2);

    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(3);

    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan ObjectInfoInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary><c>/object_info</c> of a ComfyUI with many custom nodes is several megabytes; it gets longer.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ObjectInfoTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long GPU and CPU load figures pushed by a monitor extension (Crystools, KayTool) are shown
    /// after its last message; older ones are dropped as unknown.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan MonitorMaxAge { get; set; } = TimeSpan.FromSeconds(30);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (ObjectInfoTimeout < Timeout)
        {
            yield return new ValidationResult(
                $"{SectionName}:ObjectInfoTimeout ({ObjectInfoTimeout}) must not be shorter than {SectionName}:Timeout ({Timeout}).",
                [nameof(ObjectInfoTimeout)]);
        }
    }
}
