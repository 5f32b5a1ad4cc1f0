namespace DirectorsConsole.Gateway.Routing;

/// <summary>The replicas of one service, in configuration order.</summary>
public sealed record ServiceInstances(string Name, IReadOnlyList<Uri> Addresses);

/// <summary>
/// Where the services are, read the way Aspire's service discovery reads it:
/// <c>services:{name}:{http|https}:{index}</c> (environment <c>services__job-service__http__0</c>), one
/// entry per replica. A service without entries has no instances; its routes answer 503.
/// </summary>
public sealed record SuiteTopology(IReadOnlyList<ServiceInstances> Services)
{
    /// <summary>The HttpClient for the gateway's own calls to services (health, OpenAPI): no retries, so
    /// what it reports is what it saw within its timeout.</summary>
    public const string HttpClientName = "suite";

    private static readonly string[] Schemes = ["https", "http"];

    public ServiceInstances this[string name] => Services.Single(service => service.Name == name);

    public static SuiteTopology FromConfiguration(IConfiguration configuration) =>
        new(ServiceRoutes.Services.Select(name => new ServiceInstances(name, AddressesOf(configuration, name))).ToArray());

    private static Uri[] AddressesOf(IConfiguration configuration, string name) =>
        Schemes.SelectMany(scheme => configuration.GetSection($"services:{name}:{scheme}").GetChildren()
                .OrderBy(entry => int.TryParse(entry.Key, out var index) ? index : int.MaxValue)
                .Select(entry => entry.Value))
            .Where(value => !string.IsNullOrWhiteSpace(value))
            .Select(value => Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                ? uri
                : throw new InvalidOperationException($"services:{name}: '{value}' is not an http(s) address."))
            .Distinct()
            .ToArray();
}
