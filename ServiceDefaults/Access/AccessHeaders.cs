namespace DirectorsConsole.ServiceDefaults.Access;

/// <summary>The headers of access control. Clients send only <see cref="ClientToken"/>; the others are set by the
/// Gateway on what it forwards, and the Gateway removes whatever a client sent under those names.</summary>
public static class AccessHeaders
{
    /// <summary>A client's token (the header the worker orchestrator's clients send).</summary>
    public const string ClientToken = "X-Client-Token";

    /// <summary>Proves a request came through the Gateway.</summary>
    public const string GatewaySecret = "X-Gateway-Secret";

    /// <summary>The name of the client the Gateway let through (<c>anonymous</c> without a token), for services' logs.</summary>
    public const string ClientName = "X-Client-Name";

    /// <summary>That client's role (viewer, operator, admin).</summary>
    public const string ClientRole = "X-Client-Role";

    /// <summary>The query parameter a browser's WebSocket may carry its token in (it cannot set headers).</summary>
    public const string TokenQueryParameter = "token";

    /// <summary>Every header only the Gateway may set.</summary>
    public static readonly string[] SetByGateway = [GatewaySecret, ClientName, ClientRole];
}
