using DirectorsConsole.BackendService.Apis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults("backend-service");
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapBackendsApi();
app.MapBackendViewApi();

app.Run();
