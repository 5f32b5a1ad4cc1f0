using DirectorsConsole.Testing;

namespace DirectorsConsole.GalleryService.Tests;

public sealed class GalleryServiceHealthTests(GarnetFixture garnet)
    : ServiceHealthTests<Program>(garnet, "gallery-service"), IClassFixture<GarnetFixture>;
