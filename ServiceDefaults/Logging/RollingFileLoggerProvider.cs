using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.ServiceDefaults.Logging;

/// <summary>
/// Writes log lines to <c>{log_dir}/{service}.log</c>, rolling over at <see cref="MaxFileBytes"/> (5 MB, as
/// the original orchestrator) and keeping <see cref="RetainedFiles"/> older files (<c>.1</c> is the newest).
/// Lines are queued and written by one background task, so logging never blocks a request on disk I/O.
/// </summary>
public sealed class RollingFileLoggerProvider : ILoggerProvider
{
    public const long MaxFileBytes = 5 * 1024 * 1024;
    public const int RetainedFiles = 5;

    private readonly string _path;
    private readonly long _maxBytes;
    private readonly Channel<string> _lines = Channel.CreateBounded<string>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private readonly ConcurrentDictionary<string, FileLogger> _loggers = new();
    private readonly Task _writer;
    private FileStream _file;

    public RollingFileLoggerProvider(string path, long maxBytes = MaxFileBytes)
    {
        _path = path;
        _maxBytes = maxBytes;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // Opened here so the file exists as soon as the service starts and a bad log_dir fails start-up.
        _file = OpenForAppend();
        _writer = Task.Run(WriteLinesAsync);
    }

    public ILogger CreateLogger(string categoryName) => _loggers.GetOrAdd(categoryName, name => new FileLogger(name, this));

    public void Dispose()
    {
        _lines.Writer.TryComplete();
        _writer.Wait(TimeSpan.FromSeconds(5));
    }

    private void Enqueue(string line) => _lines.Writer.TryWrite(line);

    private async Task WriteLinesAsync()
    {
        try
        {
            await foreach (var line in _lines.Reader.ReadAllAsync())
            {
                var bytes = Encoding.UTF8.GetBytes(line);
                if (_file.Length > 0 && _file.Length + bytes.Length > _maxBytes)
                {
                    await _file.DisposeAsync();
                    RollOver();
                    _file = OpenForAppend();
                }

                await _file.WriteAsync(bytes);
                if (_lines.Reader.Count == 0)
                {
                    await _file.FlushAsync();
                }
            }
        }
        catch (IOException ex)
        {
            // The file logger cannot log its own failure to the file; the console logger still works.
            Console.Error.WriteLine($"Log file '{_path}' could not be written, file logging stopped: {ex.Message}");
        }
        finally
        {
            await _file.DisposeAsync();
        }
    }

    private FileStream OpenForAppend() =>
        new(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

    private void RollOver()
    {
        File.Delete($"{_path}.{RetainedFiles}");
        for (var i = RetainedFiles - 1; i >= 1; i--)
        {
            if (File.Exists($"{_path}.{i}"))
            {
                File.Move($"{_path}.{i}", $"{_path}.{i + 1}", overwrite: true);
            }
        }

        File.Move(_path, $"{_path}.1", overwrite: true);
    }

    private sealed class FileLogger(string category, RollingFileLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var line = new StringBuilder()
                .Append(DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture))
                .Append(' ').Append(ShortLevel(logLevel)).Append(' ').Append(category).Append(": ")
                .Append(formatter(state, exception));
            if (System.Diagnostics.Activity.Current is { } activity)
            {
                line.Append(" [trace ").Append(activity.TraceId).Append(']');
            }

            if (exception is not null)
            {
                line.AppendLine().Append(exception);
            }

            provider.Enqueue(line.AppendLine().ToString());
        }

        private static string ShortLevel(LogLevel level) => level switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
    }
}
