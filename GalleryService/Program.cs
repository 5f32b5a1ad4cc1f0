using DirectorsConsole.GalleryService.Apis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults("gallery-service");
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapProjectApi();
app.MapGalleryApi();

app.Run();
