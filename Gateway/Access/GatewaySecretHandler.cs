using DirectorsConsole.ServiceDefaults.Access;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.Gateway.Access;

/// <summary>Adds the gateway secret to the gateway's own calls to the services (suite health, the online backend
/// count, the OpenAPI documents), which the services refuse without it like any other request.</summary>
public sealed class GatewaySecretHandler(IOptions<AccessOptions> options) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (options.Value.GatewaySecret is { Length: > 0 } secret)
        {
            request.Headers.Remove(AccessHeaders.GatewaySecret);
            request.Headers.TryAddWithoutValidation(AccessHeaders.GatewaySecret, secret.Trim());
        }

        return base.SendAsync(request, cancellationToken);
    }
}
