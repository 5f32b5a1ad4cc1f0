using DirectorsConsole.AppHost.Extensions;
using DirectorsConsole.AppHost.Hosting;

if (AppHostCommandLine.WantsHelp(args))
{
    Console.Write(AppHostCommandLine.Usage);
    return 0;
}

try
{
    var settings = AppHostSettings.Load(args);
    // The AppHost reads its own command line (above); Aspire gets none of it.
    var builder = DistributedApplication.CreateBuilder(new DistributedApplicationOptions { Args = [], DisableDashboard = !settings.Dashboard });
    builder.AddDirectorsConsole(settings);

    var app = builder.Build();
    Console.WriteLine($"Gateway: {settings.GatewayUrl.GetLeftPart(UriPartial.Authority)}  (docs: /docs)");
    await LeftoverProcesses.RunAsync(app);
    return 0;
}
catch (AppHostConfigurationException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 2;
}
