using DirectorsConsole.JobService.Apis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults("job-service");
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.UseWebSocketsWithHeldWrites();
app.MapJobsApi();
app.MapJobGroupsApi();
app.MapJobStreamsApi();
app.MapWorkflowsApi();
app.MapOrchestratorClientApi();
app.MapOrchestratorPublicApi();

app.Run();
