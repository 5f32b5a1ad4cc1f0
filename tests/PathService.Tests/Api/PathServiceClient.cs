using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.PathService.Tests.Api;

/// <summary>Small helpers the API tests share.</summary>
internal static class PathServiceClient
{
    /// <summary>A short random token, so tests sharing one Redis never collide on names or prefixes.</summary>
    public static string Unique() => Guid.NewGuid().ToString("N")[..10];

    public static async Task<JsonNode> ReadJsonAsync(this HttpResponseMessage response, CancellationToken cancellationToken) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))
        ?? throw new InvalidOperationException("The response body is JSON null.");

    /// <summary>Creates a mapping whose prefixes no other test uses and returns its JSON.</summary>
    public static async Task<JsonNode> CreateMappingAsync(this HttpClient client, string token, CancellationToken cancellationToken)
    {
        using var response = await client.PostAsJsonAsync("/api/path-mappings", new
        {
            name = $"Share {token}",
            windows = $"\\\\nas-{token}\\share",
            linux = $"/mnt/{token}",
            macos = $"/Volumes/{token}",
        }, cancellationToken);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.ReadJsonAsync(cancellationToken))["mapping"]!;
    }

    /// <summary>Polls until <paramref name="condition"/> holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await condition())
            {
                return true;
            }

            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }

            await Task.Delay(20, cancellationToken);
        }
    }
}
