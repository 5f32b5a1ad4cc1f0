using System.Text.Json;
using DirectorsConsole.Gateway;
using DirectorsConsole.Gateway.Access;
using DirectorsConsole.Gateway.Health;
using DirectorsConsole.Gateway.Hosting;
using DirectorsConsole.Gateway.OpenApi;
using DirectorsConsole.Gateway.Routing;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.ServiceDefaults.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;

namespace Microsoft.Extensions.Hosting;

/// <summary>The gateway's dependencies: options, access control, the reverse proxy, suite health, the merged OpenAPI
/// document and CORS. Its own JSON (health) is snake_case like the original's.</summary>
internal static class Extensions
{
    /// <summary>The default authentication scheme: forwards to the worker or the client scheme by path.</summary>
    private const string AccessScheme = "Access";

    public static WebApplicationBuilder AddApplicationServices(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.ConfigureApiJson(JsonNamingPolicy.SnakeCaseLower);
        services.AddOptions<GatewayOptions>()
            .Bind(builder.Configuration)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        // An address given to the host (ASPNETCORE_URLS from the AppHost, --urls, ASPNETCORE_HTTP_PORTS in a
        // container) wins; otherwise host and port from config.yaml or ORCHESTRATOR_HOST/PORT.
        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey])
            && string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.HttpPortsKey]))
        {
            builder.WebHost.UseUrls((builder.Configuration.Get<GatewayOptions>() ?? new GatewayOptions()).DefaultUrl);
        }

        services.AddHostedService<NetworkExposureGuard>();
        // The host's request lines carry the whole URL, and a browser's WebSocket may carry its token in the query:
        // they stay off here whatever the logging configuration says.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);

        // Access: the client token authenticates, the route table authorizes every endpoint (the proxy's too).
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<AccessOptions>>(new ClientTokenVariablesValidator(Environment.GetEnvironmentVariable));
        services.AddSingleton<ClientDirectory>();
        services.AddSingleton<WorkerDirectory>();
        // Render agents' paths are authenticated (and refused) by their worker token, every other path by the client token.
        services.AddAuthentication(AccessScheme)
            .AddPolicyScheme(AccessScheme, AccessScheme, policy => policy.ForwardDefaultSelector = context =>
                AccessRules.RequiresWorker(context.Request.Method, context.Request.Path)
                    ? WorkerTokenAuthenticationHandler.SchemeName
                    : ClientTokenAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ClientTokenAuthenticationHandler>(ClientTokenAuthenticationHandler.SchemeName, configureOptions: null)
            .AddScheme<AuthenticationSchemeOptions, WorkerTokenAuthenticationHandler>(WorkerTokenAuthenticationHandler.SchemeName, configureOptions: null);
        services.AddAuthorizationBuilder().SetFallbackPolicy(RouteAccessRequirement.Policy);
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationHandler, RouteAccessHandler>();

        services.AddCors();
        services.AddOptions<CorsOptions>().Configure<IOptions<GatewayOptions>>(
            (cors, gateway) => cors.AddDefaultPolicy(GatewayCors.Policy(gateway.Value.CorsOrigins)));

        services.AddReverseProxy().AddServiceDiscoveryDestinationResolver().AddAccessForwarding();
        services.AddSingleton<IProxyConfigProvider>(provider => new InMemoryConfigProvider(
            ProxyConfigFactory.Routes(),
            ProxyConfigFactory.Clusters(provider.GetRequiredService<IConfiguration>(), provider.GetRequiredService<IOptions<GatewayOptions>>().Value)));
        services.AddSingleton<SuiteTopology>();
        services.AddSingleton<IPassiveHealthCheckPolicy, ConnectionFailurePolicy>();
        services.AddSingleton<IActiveHealthCheckPolicy, ProbeAnsweredPolicy>();
        services.AddSingleton<ReplicaFailover>();

        services.AddTransient<GatewaySecretHandler>();
        services.AddHttpClient(SuiteTopology.HttpClientName).WithoutRetries().AddHttpMessageHandler<GatewaySecretHandler>();
        services.AddSingleton<SuiteHealthChecker>();
        services.AddSingleton<MergedOpenApiDocument>();
        return builder;
    }
}
