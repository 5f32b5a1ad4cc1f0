using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// The console: a live table of every replica (NAME, STATE, PID, URL, RESTARTS). On a terminal the table
/// is redrawn in place every second below the AppHost's log lines; when output is redirected, a line is
/// printed only when a replica's state changes, so logs and CI output stay readable.
/// </summary>
public sealed class StatusBoard(TextWriter console, bool interactive, TimeProvider time)
{
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private readonly List<ReplicaStatus> _replicas = [];
    private int _drawnLines;

    public bool Interactive { get; } = interactive;

    public void Add(ReplicaStatus replica)
    {
        lock (_gate)
        {
            _replicas.Add(replica);
        }
    }

    /// <summary>Called by a replica whose state changed.</summary>
    public void OnChanged(ReplicaStatus replica)
    {
        if (!Interactive)
        {
            var row = replica.Snapshot();
            WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{time.GetLocalNow():HH:mm:ss} {row.Name,-20} {row.State,-10} pid={row.Pid?.ToString(CultureInfo.InvariantCulture) ?? "-"} {row.Url} restarts={row.Restarts}"));
        }
    }

    /// <summary>Writes a log line above the table.</summary>
    public void WriteLine(string line)
    {
        lock (_gate)
        {
            Erase();
            console.WriteLine(line);
            Draw();
        }
    }

    /// <summary>Redraws the table every second until cancelled (terminal only).</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        if (!Interactive)
        {
            return;
        }

        using var timer = new PeriodicTimer(RefreshInterval, time);
        try
        {
            do
            {
                Redraw();
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException)
        {
            Redraw();
        }
    }

    public static string Render(IReadOnlyList<ReplicaSnapshot> rows)
    {
        var nameWidth = Math.Max(20, rows.Select(r => r.Name.Length + 2).DefaultIfEmpty(0).Max());
        var urlWidth = Math.Max(28, rows.Select(r => r.Url.Length + 2).DefaultIfEmpty(0).Max());
        var table = new StringBuilder();
        table.Append("NAME".PadRight(nameWidth)).Append("STATE".PadRight(12)).Append("PID".PadRight(9))
            .Append("URL".PadRight(urlWidth)).Append("RESTARTS").AppendLine();
        foreach (var row in rows)
        {
            table.Append(row.Name.PadRight(nameWidth))
                .Append(row.State.ToString().PadRight(12))
                .Append((row.Pid?.ToString(CultureInfo.InvariantCulture) ?? "-").PadRight(9))
                .Append(row.Url.PadRight(urlWidth))
                .Append(row.Restarts.ToString(CultureInfo.InvariantCulture))
                .AppendLine();
        }

        return table.ToString();
    }

    private void Redraw()
    {
        lock (_gate)
        {
            Erase();
            Draw();
        }
    }

    private void Erase()
    {
        if (_drawnLines > 0)
        {
            // Up to the table's first line, then clear to the end of the screen.
            console.Write($"\e[{_drawnLines}A\r\e[J");
            _drawnLines = 0;
        }
    }

    private void Draw()
    {
        if (!Interactive || _replicas.Count == 0)
        {
            return;
        }

        var lines = Render([.. _replicas.Select(r => r.Snapshot())]).Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        foreach (var line in lines)
        {
            console.WriteLine(line);
        }

        console.Flush();
        _drawnLines = lines.Length;
    }
}

/// <summary>Writes the AppHost's own log messages through the <see cref="StatusBoard"/>, above the table.</summary>
public sealed class StatusBoardLoggerProvider(StatusBoard board, TimeProvider time) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new BoardLogger(board, time);

    public void Dispose()
    {
    }

    private sealed class BoardLogger(StatusBoard board, TimeProvider time) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var level = logLevel switch
            {
                LogLevel.Warning => "warn: ",
                LogLevel.Error or LogLevel.Critical => "fail: ",
                _ => "",
            };
            board.WriteLine($"{time.GetLocalNow():HH:mm:ss} {level}{formatter(state, exception)}");
        }
    }
}
