using System.Net;
using DirectorsConsole.ServiceDefaults.Access;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Transforms;

namespace DirectorsConsole.Gateway.Access;

/// <summary>
/// What the gateway changes on every request it forwards, after access was decided: the headers only the gateway
/// may set are removed and set again (the secret that proves where the request came from, the caller's name and
/// role), and the client's token goes no further than the gateway (the header, the subprotocol that carried it, the
/// <c>token</c> query parameter that carried it). A WebSocket whose token came as a subprotocol gets that value back
/// as the chosen protocol, without which a browser drops the handshake.
/// </summary>
public static class AccessForwarding
{
    public static IReverseProxyBuilder AddAccessForwarding(this IReverseProxyBuilder proxy) =>
        proxy.AddTransforms(builder =>
        {
            builder.AddRequestTransform(SetForwardedHeadersAsync);
            builder.AddResponseTransform(EchoTokenSubprotocolAsync);
        });

    private static ValueTask SetForwardedHeadersAsync(RequestTransformContext transform)
    {
        var services = transform.HttpContext.RequestServices;
        var headers = transform.ProxyRequest.Headers;
        headers.Remove(AccessHeaders.ClientToken);
        headers.Remove(AccessHeaders.WorkerToken);
        foreach (var gatewayHeader in AccessHeaders.SetByGateway)
        {
            headers.Remove(gatewayHeader);
        }

        if (services.GetRequiredService<IOptions<AccessOptions>>().Value.GatewaySecret is { Length: > 0 } secret)
        {
            headers.TryAddWithoutValidation(AccessHeaders.GatewaySecret, secret.Trim());
        }

        // A render agent acts as the worker id its token is bound to ('*': the shared token); a bound id acting for
        // another worker is refused by BackendService, which knows whose task is whose.
        if (WorkerDirectory.WorkerIdOf(transform.HttpContext.User) is { } workerId)
        {
            headers.TryAddWithoutValidation(AccessHeaders.WorkerId, workerId);
        }

        var (name, role) = services.GetRequiredService<ClientDirectory>().CallerOf(transform.HttpContext.User);
        headers.TryAddWithoutValidation(AccessHeaders.ClientName, name);
        headers.TryAddWithoutValidation(AccessHeaders.ClientRole, role.Name());

        switch (transform.HttpContext.Features.Get<PresentedToken>())
        {
            case { Source: TokenSource.Subprotocol, Value: var token }:
                var others = transform.HttpContext.Request.Headers[HeaderNames.SecWebSocketProtocol]
                    .SelectMany(value => (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                    .Where(value => value != token)
                    .ToArray();
                headers.Remove(HeaderNames.SecWebSocketProtocol);
                if (others.Length > 0)
                {
                    headers.TryAddWithoutValidation(HeaderNames.SecWebSocketProtocol, string.Join(", ", others));
                }

                break;
            case { Source: TokenSource.Query }:
                transform.Query.Collection.Remove(PresentedToken.QueryParameter);
                break;
        }

        return ValueTask.CompletedTask;
    }

    private static ValueTask EchoTokenSubprotocolAsync(ResponseTransformContext transform)
    {
        var context = transform.HttpContext;
        if (context.Features.Get<PresentedToken>() is { Source: TokenSource.Subprotocol, Value: var token }
            && transform.ProxyResponse is { } response
            && (response.StatusCode == HttpStatusCode.SwitchingProtocols || (PresentedToken.IsWebSocketUpgrade(context.Request) && response.IsSuccessStatusCode))
            && !context.Response.Headers.ContainsKey(HeaderNames.SecWebSocketProtocol))
        {
            context.Response.Headers[HeaderNames.SecWebSocketProtocol] = token;
        }

        return ValueTask.CompletedTask;
    }
}
