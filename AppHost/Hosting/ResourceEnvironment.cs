using System.Globalization;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// The environment variables a replica gets on top of the AppHost's own (which it inherits, so
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> and the like pass through). Addresses use Aspire's names, so the
/// services would run unchanged under a real Aspire AppHost.
/// </summary>
public static class ResourceEnvironment
{
    public const string ParentPidVariable = "DIRECTORSCONSOLE_PARENT_PID";

    public static IReadOnlyDictionary<string, string> For(
        ExecutableResource resource, int replica, AppHostSettings settings, int parentPid, string? aspNetCoreEnvironment)
    {
        var environment = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["ASPNETCORE_ENVIRONMENT"] = aspNetCoreEnvironment is { Length: > 0 } ? aspNetCoreEnvironment : "Production",
            ["OTEL_SERVICE_NAME"] = resource.Name,
            ["OTEL_SERVICE_INSTANCE_ID"] = $"{resource.Name}-{replica}",
            ["DOTNET_SERVICE_REPLICA"] = replica.ToString(CultureInfo.InvariantCulture),
            ["ORCHESTRATOR_CONFIG"] = settings.ConfigFile,
            ["ORCHESTRATOR_DATA_DIR"] = settings.DataDirectory,
            ["ORCHESTRATOR_LOG_DIR"] = settings.LogDirectory,
            ["ORCHESTRATOR_HOST"] = settings.Host,
            ["ORCHESTRATOR_PORT"] = settings.Port.ToString(CultureInfo.InvariantCulture),
            [ParentPidVariable] = parentPid.ToString(CultureInfo.InvariantCulture),
            // Ends the child when this AppHost is gone, also for programs that do not read the variable above.
            [ParentWatch.StartupHooksVariable] = ParentWatch.StartupHooks(System.Environment.GetEnvironmentVariable(ParentWatch.StartupHooksVariable)),
        };
        if (resource.Scheme == Uri.UriSchemeHttp)
        {
            environment["ASPNETCORE_URLS"] = resource.Endpoints[replica].GetLeftPart(UriPartial.Authority);
        }

        foreach (var reference in resource.References)
        {
            if (reference is IResourceWithConnectionString withConnectionString)
            {
                environment[$"ConnectionStrings__{reference.Name}"] = withConnectionString.ConnectionString;
                continue;
            }

            for (var i = 0; i < reference.Endpoints.Count; i++)
            {
                environment[$"services__{reference.Name}__http__{i}"] = reference.Endpoints[i].GetLeftPart(UriPartial.Authority);
            }
        }

        foreach (var (name, value) in resource.Environment)
        {
            environment[name] = value();
        }

        return environment;
    }
}
