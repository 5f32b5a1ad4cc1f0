using DirectorsConsole.Testing;

namespace DirectorsConsole.BackendService.Tests;

public sealed class BackendServiceHealthTests(GarnetFixture garnet)
    : ServiceHealthTests<Program>(garnet, "backend-service"), IClassFixture<GarnetFixture>;
