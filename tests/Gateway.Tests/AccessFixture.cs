using System.Collections.Concurrent;
using System.Diagnostics;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace DirectorsConsole.Gateway.Tests;

/// <summary>
/// A gateway with clients configured (a viewer and an operator by token hash, an admin by an environment variable),
/// in front of one fake replica of each service, recording every log message and span it produces so tests can
/// look for tokens in them.
/// </summary>
public sealed class AccessFixture(GarnetFixture garnet) : IAsyncLifetime
{
    public const string ViewerToken = "viewer-7f3c2a91d0e84b6c";
    public const string OperatorToken = "operator-51be09a7c3d24f18";
    public const string AdminToken = "admin-c8e1f4a2b7d6039e";
    public const string GatewaySecret = "test-gateway-secret-2f6a9c0e1b7d4835";

    /// <summary>The shared worker token (any worker id) and one bound to <see cref="BoundWorkerId"/>.</summary>
    public const string SharedWorkerToken = "shared-worker-5c0e9b1d7a3f4e62";
    public const string BoundWorkerToken = "bound-worker-a14d7e2c90b63f58";
    public const string BoundWorkerId = "gpu-home";

    /// <summary>A variable of this fixture's own, which no other test uses: the fixtures of two test classes run side by
    /// side, and each clears its variable when it ends (a shared one left the other's gateway unable to read its
    /// admin token, answering 500).</summary>
    public string AdminTokenVariable { get; } = $"DC_TEST_ADMIN_TOKEN_{Guid.NewGuid():N}";

    private ServiceFactory<Program>? _gateway;

    public IReadOnlyList<FakeService> Replicas { get; private set; } = [];

    public HttpClient Client { get; private set; } = null!;

    public Uri GatewayAddress => Client.BaseAddress!;

    public RecordingLoggerProvider Logs { get; } = new();

    public EndedSpans Spans { get; } = new();

    /// <summary>The clients of config.yaml, as configuration keys; the admin's token is read from
    /// <paramref name="adminTokenVariable"/>.</summary>
    public static Dictionary<string, string?> ClientSettings(string adminTokenVariable) => new()
    {
        ["clients:0:name"] = "dashboard",
        ["clients:0:role"] = "viewer",
        ["clients:0:token_sha256"] = ClientTokenDigest.Hex(ViewerToken),
        ["clients:1:name"] = "pipeline",
        ["clients:1:role"] = "operator",
        ["clients:1:token_sha256"] = ClientTokenDigest.Hex(OperatorToken).ToUpperInvariant(),
        ["clients:2:name"] = "ops",
        ["clients:2:role"] = "admin",
        ["clients:2:token_env"] = adminTokenVariable,
        ["gateway_secret"] = GatewaySecret,
        ["worker_token_sha256"] = ClientTokenDigest.Hex(SharedWorkerToken),
        ["workers:0:worker_id"] = BoundWorkerId,
        ["workers:0:token_sha256"] = ClientTokenDigest.Hex(BoundWorkerToken),
        // Everything of the gateway's own and the proxy's, so a token written anywhere in a log would be seen.
        ["Logging:LogLevel:Default"] = "Trace",
        ["Logging:LogLevel:Yarp"] = "Trace",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
    };

    public async ValueTask InitializeAsync()
    {
        Environment.SetEnvironmentVariable(AdminTokenVariable, AdminToken);
        var cancellationToken = TestContext.Current.CancellationToken;
        Replicas = await Task.WhenAll(
            FakeService.StartAsync("job-service", 0, cancellationToken),
            FakeService.StartAsync("backend-service", 0, cancellationToken),
            FakeService.StartAsync("gallery-service", 0, cancellationToken),
            FakeService.StartAsync("path-service", 0, cancellationToken));

        var settings = ClientSettings(AdminTokenVariable);
        foreach (var replica in Replicas)
        {
            settings[$"services:{replica.Name}:http:{replica.Replica}"] = replica.Address.ToString();
        }

        (_gateway, Client) = GatewayFixture.StartGateway(garnet, settings, services =>
        {
            services.AddSingleton<ILoggerProvider>(Logs);
            services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddProcessor(Spans));
        });
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        foreach (var replica in Replicas)
        {
            await replica.DisposeAsync();
        }

        Environment.SetEnvironmentVariable(AdminTokenVariable, null);
    }

    /// <summary>Every message logged through the providers, formatted, with its exception and scopes' values.</summary>
    public sealed class RecordingLoggerProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _messages = new();

        public IReadOnlyList<string> Messages => _messages.ToArray();

        public ILogger CreateLogger(string categoryName) => new Recorder(categoryName, _messages);

        public void Dispose()
        {
        }

        private sealed class Recorder(string category, ConcurrentQueue<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull
            {
                messages.Enqueue($"{category} scope: {state}");
                return null;
            }

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                messages.Enqueue($"{category} {logLevel}: {formatter(state, exception)} {exception}");
        }
    }

    /// <summary>Every span the gateway's tracer ends, with all its tags.</summary>
    public sealed class EndedSpans : BaseProcessor<Activity>
    {
        private readonly ConcurrentQueue<string> _ended = new();

        public IReadOnlyList<string> All => _ended.ToArray();

        public override void OnEnd(Activity data) =>
            _ended.Enqueue($"{data.DisplayName} {string.Join(" ", data.TagObjects.Select(tag => $"{tag.Key}={tag.Value}"))}");
    }
}
