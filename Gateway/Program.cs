var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults("gateway");
builder.AddApplicationServices();

var app = builder.Build();

// The gateway's /health speaks for the whole suite (HealthApi), so its own readiness moves aside; it decides
// access itself, so it takes requests from clients rather than only from a gateway.
app.MapDefaultEndpoints(healthPath: GatewayPaths.SelfHealth, behindGateway: false);
app.UseCors();
app.UseAuthentication();
app.UseAuthorization();

app.MapHealthApi();
app.MapOpenApiDocsApi();
app.MapMetricsApi();
app.MapServiceProxy();

app.Run();
