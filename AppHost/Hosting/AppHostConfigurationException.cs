namespace DirectorsConsole.AppHost.Hosting;

/// <summary>The command line, config.yaml, the environment or the model is wrong; nothing was started.</summary>
public sealed class AppHostConfigurationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The suite could not be brought up (a resource did not become healthy in time, or failed).</summary>
public sealed class AppHostStartupException(string message) : Exception(message);
