using DirectorsConsole.AppHost.Extensions;
using DirectorsConsole.AppHost.Hosting;

if (AppHostCommandLine.WantsHelp(args))
{
    Console.Write(AppHostCommandLine.Usage);
    return 0;
}

try
{
    var builder = DistributedApplication.CreateBuilder(args);

    var redis = builder.AddRedisForEnvironment("redis");
    var comfyNodes = builder.AddComfyNodes("comfy-nodes");

    var paths = builder.AddProject("path-service").WithReference(redis).WaitFor(redis).WithHttpHealthCheck("/health");
    var jobs = builder.AddProject("job-service").WithReference(redis).WaitFor(redis).WithHttpHealthCheck("/health");
    var backends = builder.AddProject("backend-service").WithReference(redis).WaitFor(redis).WithComfyNodes(comfyNodes)
        .WithHttpHealthCheck("/health");
    var gallery = builder.AddProject("gallery-service").WithReference(redis).WaitFor(redis).WithHttpHealthCheck("/health");

    builder.AddProject("gateway").WithExternalHttpEndpoint(builder.Settings.Host, builder.Settings.Port)
        .WithReference(redis).WaitFor(redis).WithReference(paths).WaitFor(paths).WithReference(jobs).WaitFor(jobs)
        .WithReference(backends).WaitFor(backends).WithReference(gallery).WaitFor(gallery)
        .WithHttpHealthCheck("/health/self");

    await using var app = builder.Build();
    Console.WriteLine($"Gateway: {builder.Settings.GatewayUrl.GetLeftPart(UriPartial.Authority)}  (docs: /docs)");
    return await app.RunAsync();
}
catch (AppHostConfigurationException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 2;
}
