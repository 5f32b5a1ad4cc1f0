using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.Testing;

/// <summary>
/// Runs one service in memory with its real configuration pipeline, pointed at a real Redis and at a
/// private temporary data and log directory that is deleted on dispose. Settings are host settings, so
/// they are visible while the service configures itself (config.yaml, log file, options).
/// Redis commands get 30 s (a test of timeouts passes its own <c>Redis:CommandTimeout</c>).
/// <paramref name="configureServices"/> adds test-only services, such as an in-memory telemetry exporter.
/// </summary>
public sealed class ServiceFactory<TProgram>(
    string redisConnectionString,
    IReadOnlyDictionary<string, string?>? settings = null,
    Action<IServiceCollection>? configureServices = null)
    : WebApplicationFactory<TProgram> where TProgram : class
{
    public string RootDirectory { get; } = Directory.CreateTempSubdirectory("dc-service-").FullName;

    public string DataDirectory => Path.Combine(RootDirectory, "data");

    public string LogDirectory => Path.Combine(RootDirectory, "logs");

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Production");
        builder.UseSetting("ORCHESTRATOR_CONFIG", Path.Combine(RootDirectory, "config.yaml"));
        builder.UseSetting("data_dir", DataDirectory);
        builder.UseSetting("log_dir", LogDirectory);
        builder.UseSetting("ConnectionStrings:redis", redisConnectionString);
        // Tests share a loaded machine with many other servers; the production 5 s would turn a slow moment into a 503
        // no test asks about. A test of timeouts or outages sets its own.
        builder.UseSetting("Redis:CommandTimeout", "00:00:30");
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            builder.UseSetting(key, value);
        }

        if (configureServices is not null)
        {
            builder.ConfigureServices(configureServices);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        try
        {
            Directory.Delete(RootDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A log file still being closed by a background writer; the temp folder is cleaned by the OS.
        }
    }
}
