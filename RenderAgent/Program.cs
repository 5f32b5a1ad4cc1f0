// The render agent: pulls prompts from the suite over /_worker and runs them on the ComfyUI beside it.
// Settings: section Agent (README, "Render agents"); dotnet run --project RenderAgent -- --Agent:WorkerId=gpu-home ...
var builder = Host.CreateApplicationBuilder(args);
builder.AddRenderAgent();
await builder.Build().RunAsync();
