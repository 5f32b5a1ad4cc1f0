using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.WebUtilities;
using BadHttpRequestException = Microsoft.AspNetCore.Http.BadHttpRequestException;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DirectorsConsole.ServiceDefaults.Hosting;

/// <summary>
/// Gives the requests Kestrel refuses before any middleware runs (a request line or target it cannot parse, one
/// over its size limit, malformed or too many headers, an unknown HTTP version, broken body framing) the same JSON
/// problem as every other error, instead of Kestrel's empty 400/414/431/505.
/// </summary>
/// <remarks>
/// Kestrel offers no hook to shape that response, only a diagnostic event saying why it refuses a request. So a
/// connection middleware on every endpoint notes the reason the event reports for its connection; the response Kestrel
/// writes next on that connection is the refusal (Kestrel parses nothing more and closes after it), and only that
/// response is held back and rewritten with a body. Responses before it, pipelined or kept alive, go straight through.
/// </remarks>
public static class KestrelRejections
{
    /// <summary>The diagnostic event Kestrel raises, with the request's features, when it refuses a request.</summary>
    internal const string BadRequestEvent = "Microsoft.AspNetCore.Server.Kestrel.BadRequest";

    public static IHostApplicationBuilder AddKestrelRejectionProblems(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<KestrelRejectionObserver>();
        builder.Services.AddOptions<KestrelServerOptions>().Configure(kestrel => kestrel.ConfigureEndpointDefaults(endpoint =>
        {
            // Resolving the observer subscribes it to Kestrel's events before the endpoint accepts a connection.
            endpoint.ApplicationServices.GetRequiredService<KestrelRejectionObserver>();
            endpoint.Use(next => connection => RewriteRejectionAsync(connection, next));
        }));
        return builder;
    }

    private static async Task RewriteRejectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var rejection = new RejectedRequestFeature();
        connection.Features.Set(rejection);
        var transport = connection.Transport;
        connection.Transport = new RewritingTransport(transport.Input, new RejectionRewritingWriter(transport.Output, rejection));
        try
        {
            await next(connection);
        }
        finally
        {
            connection.Transport = transport;
        }
    }

    /// <summary>
    /// The error Kestrel raised while the application read a request body it cannot frame (bad chunk sizes, a body that
    /// ends early), found in <paramref name="exception"/> or what it wraps; null for every other bad request, such as
    /// a body that frames well but is not the JSON an endpoint expects.
    /// </summary>
    internal static BadHttpRequestException? BodyFramingError(Exception exception)
    {
        for (var cause = exception; cause is not null; cause = cause.InnerException)
        {
            // Kestrel throws its own (otherwise obsolete) subclass; the base type is also what endpoint binding throws.
#pragma warning disable CS0618
            if (cause is Microsoft.AspNetCore.Server.Kestrel.Core.BadHttpRequestException framing)
#pragma warning restore CS0618
            {
                return framing;
            }
        }

        return null;
    }

    /// <summary>The <c>detail</c> for a request Kestrel refused with <paramref name="status"/>: what was wrong, in the
    /// caller's terms. Kestrel's own message quotes the offending bytes, which the detail does not echo.</summary>
    public static string Describe(int status, BadHttpRequestException? error)
    {
        var message = error?.Message ?? "";
        bool Says(string text) => message.StartsWith(text, StringComparison.Ordinal);

        if (Says("Invalid request target"))
        {
            // Kestrel quotes the target only while its own log level is Information or lower.
            return message.Contains("%00", StringComparison.Ordinal) || message.Contains(@"\x00", StringComparison.Ordinal)
                ? "The request target contains a NUL character (%00), which no path or query may contain."
                : "The request target (path and query) contains a NUL character (%00), a control character or a byte that is not allowed in a URL.";
        }

        return status switch
        {
            StatusCodes.Status414UriTooLong =>
                $"The request line is longer than the {RequestLimits.KestrelMaxRequestLineSize} bytes accepted; the request target may be at most {RequestLimits.MaxRequestTargetLength} characters.",
            StatusCodes.Status431RequestHeaderFieldsTooLarge when Says("Request contains too many headers") =>
                "The request has more header fields than the server accepts.",
            StatusCodes.Status431RequestHeaderFieldsTooLarge =>
                $"The request headers are larger than the {RequestLimits.KestrelMaxRequestHeadersTotalSize} bytes accepted; at most {RequestLimits.MaxRequestHeadersBytes} are accepted for a request to be served.",
            StatusCodes.Status505HttpVersionNotsupported =>
                "The HTTP version of the request line is not supported; send HTTP/1.1 (or HTTP/1.0, HTTP/2).",
            StatusCodes.Status413PayloadTooLarge =>
                "The request body is larger than the server accepts (max_request_body_mb).",
            StatusCodes.Status411LengthRequired =>
                "The request has a body but no Content-Length header, which HTTP/1.0 requires.",
            StatusCodes.Status405MethodNotAllowed =>
                "The request method is not allowed for this kind of request target.",
            StatusCodes.Status408RequestTimeout =>
                "The request headers or body did not arrive in time.",
            _ when Says("Invalid request line") =>
                "The request line is malformed: it must be a method token, a request target and an HTTP version, separated by single spaces.",
            _ when Says("Unrecognized HTTP version") =>
                "The HTTP version of the request line is not recognised.",
            _ when Says("Invalid Host header") || Says("Multiple Host headers") || Says("Request is missing Host header") =>
                "The Host header is missing, repeated or not a valid host[:port].",
            _ when Says("Invalid characters in header name") || Says("Invalid request header") || Says("Malformed request: invalid headers")
                || Says("Invalid request headers") || Says("Invalid non-ASCII or control character in header") =>
                "A request header is malformed: every header must be a token name, a colon and a value without control characters.",
            _ when Says("Invalid content length") || Says("Multiple Content-Length headers") =>
                "The Content-Length header is not a single non-negative number.",
            _ when Says("The message body length cannot be determined") =>
                "The body length cannot be determined: the last transfer coding must be 'chunked'.",
            _ when Says("Bad chunk") || Says("Chunked request incomplete") || Says("Unexpected end of request content") =>
                "The chunked request body is malformed or ends early.",
            _ => "The request is not valid HTTP/1.1 and could not be read.",
        };
    }

    /// <summary>
    /// Kestrel's refusal, recognised in the bytes held back for it, rewritten with a problem body: the status line and
    /// headers Kestrel chose are kept (Connection: close included), the empty body is replaced. Null when the bytes are
    /// not a body-less HTTP/1.x error head, which then goes out as it is.
    /// </summary>
    internal static byte[]? RewriteRefusal(ReadOnlySpan<byte> response, BadHttpRequestException? error)
    {
        var headEnd = response.IndexOf("\r\n\r\n"u8);
        if (headEnd < 0 || headEnd + 4 != response.Length || !(response.StartsWith("HTTP/1.1 "u8) || response.StartsWith("HTTP/1.0 "u8)))
        {
            return null;
        }

        var head = Encoding.ASCII.GetString(response[..headEnd]);
        var lines = head.Split("\r\n");
        var statusLine = lines[0];
        if (statusLine.Length < 12 || !int.TryParse(statusLine.AsSpan(9, 3), out var status) || status < 400)
        {
            return null;
        }

        var headers = lines.Skip(1).ToList();
        var emptyBody = headers.FindIndex(line => line.Equals("Content-Length: 0", StringComparison.OrdinalIgnoreCase));
        if (emptyBody < 0 || headers.Any(line => line.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        var body = ProblemBody(status, Describe(status, error));
        headers[emptyBody] = $"Content-Length: {body.Length}";
        headers.Insert(emptyBody, "Content-Type: application/problem+json");
        var rewrittenHead = Encoding.ASCII.GetBytes($"{statusLine}\r\n{string.Join("\r\n", headers)}\r\n\r\n");
        return [.. rewrittenHead, .. body];
    }

    private static byte[] ProblemBody(int status, string detail)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("title", ReasonPhrases.GetReasonPhrase(status));
            json.WriteNumber("status", status);
            json.WriteString("detail", detail);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>Set on a connection by <see cref="KestrelRejections"/>; holds why Kestrel refused the last request on it.</summary>
internal sealed class RejectedRequestFeature
{
    public bool Refused { get; private set; }

    public BadHttpRequestException? Error { get; private set; }

    public void Record(BadHttpRequestException? error)
    {
        Refused = true;
        Error = error;
    }

    public void Clear()
    {
        Refused = false;
        Error = null;
    }
}

/// <summary>Hands Kestrel's bad-request events to the connection they happened on.</summary>
internal sealed class KestrelRejectionObserver : IObserver<KeyValuePair<string, object?>>, IDisposable
{
    private readonly IDisposable _subscription;

    public KestrelRejectionObserver(DiagnosticListener aspNetCore)
    {
        _subscription = aspNetCore.Subscribe(this, name => name == KestrelRejections.BadRequestEvent);
    }

    public void OnNext(KeyValuePair<string, object?> diagnostic)
    {
        // Kestrel raises the event before it writes the refusal, on the thread that then writes it. A request's
        // features fall back to its connection's, where the connection middleware put its RejectedRequestFeature.
        if (diagnostic.Key == KestrelRejections.BadRequestEvent && diagnostic.Value is IFeatureCollection features)
        {
            features.Get<RejectedRequestFeature>()?.Record(features.Get<IBadRequestExceptionFeature>()?.Error as BadHttpRequestException);
        }
    }

    public void OnError(Exception error)
    {
    }

    public void OnCompleted()
    {
    }

    public void Dispose() => _subscription.Dispose();
}

internal sealed class RewritingTransport(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}

/// <summary>
/// The connection's output as Kestrel sees it. Everything passes straight to the socket's writer, except the bytes
/// written after Kestrel has refused a request: those are held until Kestrel flushes them, then sent rewritten.
/// </summary>
internal sealed class RejectionRewritingWriter(PipeWriter socket, RejectedRequestFeature rejection) : PipeWriter
{
    private ArrayBufferWriter<byte>? _held;
    private bool _lastLeaseHeld;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        if (HoldNextBytes())
        {
            return _held!.GetMemory(sizeHint);
        }

        return socket.GetMemory(sizeHint);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        if (HoldNextBytes())
        {
            return _held!.GetSpan(sizeHint);
        }

        return socket.GetSpan(sizeHint);
    }

    public override void Advance(int bytes)
    {
        if (_lastLeaseHeld)
        {
            _held!.Advance(bytes);
        }
        else
        {
            socket.Advance(bytes);
        }
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        ReleaseHeld();
        return socket.FlushAsync(cancellationToken);
    }

    public override void CancelPendingFlush() => socket.CancelPendingFlush();

    public override void Complete(Exception? exception = null)
    {
        ReleaseHeld();
        socket.Complete(exception);
    }

    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        ReleaseHeld();
        return socket.CompleteAsync(exception);
    }

    public override bool CanGetUnflushedBytes => socket.CanGetUnflushedBytes;

    public override long UnflushedBytes => socket.UnflushedBytes + (_held?.WrittenCount ?? 0);

    private bool HoldNextBytes()
    {
        _lastLeaseHeld = rejection.Refused;
        if (_lastLeaseHeld)
        {
            _held ??= new ArrayBufferWriter<byte>(512);
        }

        return _lastLeaseHeld;
    }

    private void ReleaseHeld()
    {
        if (_held is not { WrittenCount: > 0 } held)
        {
            return;
        }

        var response = held.WrittenSpan;
        if (KestrelRejections.RewriteRefusal(response, rejection.Error) is { } problem)
        {
            socket.Write(problem);
        }
        else
        {
            socket.Write(response);
        }

        held.Clear();
        rejection.Clear();
        _lastLeaseHeld = false;
    }
}
