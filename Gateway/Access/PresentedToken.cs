using DirectorsConsole.ServiceDefaults.Access;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace DirectorsConsole.Gateway.Access;

/// <summary>Where a request carried its token.</summary>
public enum TokenSource
{
    Header,
    /// <summary>One of the offered <c>Sec-WebSocket-Protocol</c> values: a browser's WebSocket cannot set headers.</summary>
    Subprotocol,
    /// <summary>The <c>token</c> query parameter of a WebSocket request.</summary>
    Query,
}

/// <summary>The token a request presented and where, kept for the forwarding step, which removes it from what the
/// service receives and, for a subprotocol, names it as the chosen protocol in the handshake answer.</summary>
public sealed record PresentedToken(TokenSource Source, string Value)
{
    public const string QueryParameter = AccessHeaders.TokenQueryParameter;

    /// <summary>The candidates a request carries: the header when present (it alone decides), else, for a WebSocket
    /// upgrade, every offered subprotocol, then the <c>token</c> query parameter.</summary>
    public static IReadOnlyList<PresentedToken> Candidates(HttpRequest request)
    {
        var header = request.Headers[AccessHeaders.ClientToken].ToString();
        if (header.Length > 0)
        {
            return [new PresentedToken(TokenSource.Header, header)];
        }

        if (!IsWebSocketUpgrade(request))
        {
            return [];
        }

        var candidates = request.Headers[HeaderNames.SecWebSocketProtocol]
            .SelectMany(value => (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .Select(value => new PresentedToken(TokenSource.Subprotocol, value))
            .ToList();
        if (request.Query[QueryParameter].ToString() is { Length: > 0 } query)
        {
            candidates.Add(new PresentedToken(TokenSource.Query, query));
        }

        return candidates;
    }

    /// <summary>An HTTP/1.1 upgrade to WebSocket, or HTTP/2's extended CONNECT for one.</summary>
    public static bool IsWebSocketUpgrade(HttpRequest request) =>
        request.Headers.Upgrade.Any(value => string.Equals(value, "websocket", StringComparison.OrdinalIgnoreCase))
        || request.HttpContext.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true, Protocol: var protocol }
           && string.Equals(protocol, "websocket", StringComparison.OrdinalIgnoreCase);
}
