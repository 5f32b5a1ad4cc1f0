using Microsoft.Extensions.Options;

// The render agent: pulls prompts from the suite over /_worker and runs them on the ComfyUI beside it.
// Settings: section Agent (README, "Render agents"); dotnet run --project RenderAgent -- --Agent:WorkerId=gpu-home ...
var builder = Host.CreateApplicationBuilder(args);
builder.AddRenderAgent();
try
{
    await builder.Build().RunAsync();
    return 0;
}
catch (OptionsValidationException ex)
{
    await Console.Error.WriteLineAsync($"render agent: cannot start: {string.Join(" ", ex.Failures)}");
    return 2;
}
