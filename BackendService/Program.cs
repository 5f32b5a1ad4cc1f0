using DirectorsConsole.BackendService.Apis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults("backend-service");
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.UseWebSockets();
app.MapBackendsApi();
app.MapBackendViewApi();
app.MapWorkerApi();

app.Run();
