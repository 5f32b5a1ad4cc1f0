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

    /// <summary>A render agent's token, on <c>/_worker/**</c> only; it goes no further than the Gateway.</summary>
    public const string WorkerToken = "X-Worker-Token";

    /// <summary>The worker id the Gateway let through on <c>/_worker/**</c>: the id a worker token is bound to, or
    /// <see cref="AnyWorker"/> for the shared token.</summary>
    public const string WorkerId = "X-Worker-Id";

    /// <summary>The <see cref="WorkerId"/> of the shared worker token: it may act for any worker id.</summary>
    public const string AnyWorker = "*";

    /// <summary>Every header only the Gateway may set.</summary>
    public static readonly string[] SetByGateway = [GatewaySecret, ClientName, ClientRole, WorkerId];
}
