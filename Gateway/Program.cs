var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults("gateway");
builder.AddApplicationServices();

var app = builder.Build();

// The gateway's /health speaks for the whole suite (HealthApi), so its own readiness moves aside.
app.MapDefaultEndpoints(healthPath: GatewayPaths.SelfHealth);
app.UseCors();

app.MapHealthApi();
app.MapOpenApiDocsApi();
app.MapMetricsApi();
app.MapServiceProxy();

app.Run();
