var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults("backend-service");
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();
