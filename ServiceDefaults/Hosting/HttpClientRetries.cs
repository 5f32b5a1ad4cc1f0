namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Every HttpClient gets the standard resilience handler from ServiceDefaults (retries on connection
/// failures, 5xx, 408 and 429). A retry sends the request again, so a client whose request may start work
/// (a prompt, a write) or whose caller is itself the retry loop must opt out here.
/// </summary>
public static class HttpClientRetries
{
    public static IHttpClientBuilder WithoutRetries(this IHttpClientBuilder builder)
    {
        // The library marks the removal of inherited handlers as an evaluation API; it is the documented way
        // to opt a named client out of ConfigureHttpClientDefaults, and one place keeps the exception.
#pragma warning disable EXTEXP0001
        return builder.RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
    }
}
