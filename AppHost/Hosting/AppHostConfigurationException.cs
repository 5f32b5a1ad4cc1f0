namespace DirectorsConsole.AppHost.Hosting;

/// <summary>The command line, config.yaml, the environment or the model is wrong; nothing was started.</summary>
public sealed class AppHostConfigurationException(string message, Exception? inner = null) : Exception(message, inner);
