using DirectorsConsole.ComfyEmulator;

return await EmulatorApp.RunAsync(args);
