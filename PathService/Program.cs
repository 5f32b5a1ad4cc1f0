using DirectorsConsole.PathService.Apis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults("path-service");
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapPathMappingsApi();

app.Run();
