using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests;

public sealed class JobServiceHealthTests(GarnetFixture garnet)
    : ServiceHealthTests<Program>(garnet, "job-service"), IClassFixture<GarnetFixture>;
