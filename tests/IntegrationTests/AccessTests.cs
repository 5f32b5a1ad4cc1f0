using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// The whole suite started by the AppHost with clients in config.yaml. Every operation of the merged OpenAPI document
/// is called through the Gateway without a token (401), with a viewer's (403 on every changing route) and with an
/// operator's (never 401 or 403 but on the admin routes), and directly at every service's own port, which refuses
/// everything but its probes without the Gateway's secret. Bodies are broken JSON, so nothing in the suite changes.
/// </summary>
public sealed class AccessTests : IAsyncLifetime
{
    private const string ViewerToken = "integration-viewer-5d1e7c03";
    private const string OperatorToken = "integration-operator-a94b2f61";

    /// <summary>Routes anyone may call.</summary>
    private static readonly string[] PublicPrefixes = ["/health", "/api/health", "/_public/status", "/_public/metrics", "/_public/docs", "/_public/webhooks/approval/"];

    /// <summary>The render agents' routes, which only a worker token opens.</summary>
    private const string WorkerPrefix = "/_worker/";

    /// <summary>What a service answers at its own port without the Gateway.</summary>
    private static readonly string[] ProbePaths = ["/health", "/alive"];

    /// <summary>Reads the original's clients send as POST.</summary>
    private static readonly string[] ReadsSentAsPost =
    [
        "/api/gallery/scan-tree", "/api/gallery/scan-folder", "/api/gallery/scan-recursive", "/api/gallery/file-info",
        "/api/gallery/search", "/api/gallery/find-duplicates", "/api/gallery/folder-stats", "/api/load-project",
        "/api/scan-project-images", "/api/scan-project-panels", "/api/scan-folder-images", "/api/scan-versions", "/api/translate-path",
    ];

    private readonly string _workingDirectory = Directory.CreateTempSubdirectory("dc-access-").FullName;
    private SuiteApp _suite = null!;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _suite = await SuiteApp.StartAsync(_workingDirectory, [], Token, $"""
            clients:
              - {"{"}name: dashboard, role: viewer, token_sha256: "{Sha256(ViewerToken)}"{"}"}
              - {"{"}name: pipeline, role: operator, token_sha256: "{Sha256(OperatorToken)}"{"}"}
            """);
    }

    public async ValueTask DisposeAsync()
    {
        if (_suite is not null)
        {
            await _suite.DisposeAsync();
        }

        Directory.Delete(_workingDirectory, recursive: true);
    }

    [Fact]
    public async Task EveryOperationNeedsATokenAndARoleThroughTheGatewayAndNoServicePortAnswersWithoutIt()
    {
        // Arrange
        // The Gateway merges the services' documents, leaving out one that did not answer in time (a loaded machine)
        // and asking again a few seconds later: wait for the whole document.
        var operations = await Eventually.ReturnsAsync(
            async () => Operations((await _suite.Gateway.GetFromJsonAsync<JsonObject>("/openapi.json", Token))!),
            found => found.Count > 50, TimeSpan.FromSeconds(60));
        using var direct = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var servicePorts = ServiceAddresses();

        // Act
        var wrong = new List<string>();
        foreach (var (method, path) in operations)
        {
            var isPublic = PublicPrefixes.Any(prefix => path.Equals(prefix, StringComparison.Ordinal) || (prefix.EndsWith('/') && path.StartsWith(prefix, StringComparison.Ordinal)));
            var isAdmin = path.Split('/').Any(segment => segment is "debug" or "admin");
            var changes = method != "GET" && method != "HEAD" && !ReadsSentAsPost.Contains(path);

            var anonymous = await StatusAsync(_suite.Gateway, method, path, token: null);
            var viewer = await StatusAsync(_suite.Gateway, method, path, ViewerToken);
            var @operator = await StatusAsync(_suite.Gateway, method, path, OperatorToken);
            if (path.StartsWith(WorkerPrefix, StringComparison.Ordinal))
            {
                // The render agents' routes take worker tokens only (none is configured here): no client token opens them.
                Expect(wrong, method, path, "no token", anonymous, status => status is 401 or 403);
                Expect(wrong, method, path, "viewer", viewer, status => status is 401 or 403);
                Expect(wrong, method, path, "operator", @operator, status => status is 401 or 403);
            }
            else
            {
                Expect(wrong, method, path, "no token", anonymous, isPublic ? status => status is not (401 or 403) : status => status == 401);
                Expect(wrong, method, path, "viewer", viewer, isPublic ? status => status is not (401 or 403)
                    : changes || isAdmin ? status => status == 403 : status => status is not (401 or 403));
                Expect(wrong, method, path, "operator", @operator, isPublic ? status => status is not (401 or 403)
                    : isAdmin ? status => status == 403 : status => status is not (401 or 403));
            }

            // The probes (/health, /alive) stay open at a service's own port: the AppHost and the Gateway call them directly.
            foreach (var address in ProbePaths.Contains(path) ? [] : servicePorts)
            {
                var status = await StatusAsync(direct, method, new Uri(address, path).ToString(), OperatorToken);
                Expect(wrong, method, $"{address}{path.TrimStart('/')}", "operator, directly at the service", status, s => s == 403);
            }
        }

        // Assert
        TestContext.Current.TestOutputHelper?.WriteLine($"{operations.Count} operations through the gateway and at {servicePorts.Count} service ports");
        Assert.NotEmpty(servicePorts);
        Assert.True(operations.Count > 50, $"only {operations.Count} operations in the merged document");
        Assert.True(wrong.Count == 0, $"{wrong.Count} answers broke the access rules:\n{string.Join("\n", wrong.Take(40))}");
        foreach (var address in servicePorts)
        {
            using var probe = await direct.GetAsync(new Uri(address, "/alive"), Token);
            Assert.Equal(HttpStatusCode.OK, probe.StatusCode);
        }
    }

    private static void Expect(List<string> wrong, string method, string path, string who, int status, Func<int, bool> rule)
    {
        if (!rule(status))
        {
            wrong.Add($"{method} {path} as {who}: {status}");
        }
    }

    /// <summary>The status of one call with a broken JSON body (never accepted, so nothing changes).</summary>
    private static async Task<int> StatusAsync(HttpClient client, string method, string target, string? token)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), target);
        if (token is not null)
        {
            request.Headers.Add("X-Client-Token", token);
        }

        if (method is not ("GET" or "HEAD"))
        {
            request.Content = new StringContent("{\"broken\":", Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request, Token);
        return (int)response.StatusCode;
    }

    /// <summary>Every operation with its path parameters filled with ids nothing in the suite has.</summary>
    private static IReadOnlyList<(string Method, string Path)> Operations(JsonObject document) =>
        document["paths"]!.AsObject()
            .SelectMany(path => path.Value!.AsObject()
                .Where(operation => operation.Key is "get" or "post" or "put" or "patch" or "delete" or "head")
                .Select(operation => (operation.Key.ToUpperInvariant(), string.Join('/', path.Key.Split('/').Select(segment => segment.StartsWith('{') ? "access-test-0001" : segment)))))
            .ToArray();

    /// <summary>The address of every service replica, as the AppHost gave them to the Gateway.</summary>
    private IReadOnlyList<Uri> ServiceAddresses()
    {
        var gateway = _suite.FindSuiteProcesses().First(process => RunningSuite.Runs(process.CommandLine, "DirectorsConsole.Gateway"));
        var environment = File.ReadAllText($"/proc/{gateway.Pid}/environ").Split('\0');
        return environment
            .Where(variable => variable.StartsWith("services__", StringComparison.Ordinal) && variable.Contains("__http__", StringComparison.Ordinal))
            .Select(variable => new Uri(variable[(variable.IndexOf('=', StringComparison.Ordinal) + 1)..]))
            .Distinct()
            .ToArray();
    }

    private static string Sha256(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
