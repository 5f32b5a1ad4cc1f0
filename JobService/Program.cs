var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults("job-service");
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();
