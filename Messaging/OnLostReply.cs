namespace DirectorsConsole.Messaging;

/// <summary>
/// What <see cref="RedisConnection"/> does with a write whose connection was lost after it was sent and before its reply
/// came back: the server may or may not have carried it out, and the client cannot tell which.
/// </summary>
public enum OnLostReply
{
    /// <summary>Fail with a <see cref="RedisConnectionException"/>: sending it again could carry it out twice. Every
    /// write is treated so unless its caller says otherwise.</summary>
    Fail,

    /// <summary>Send it again once the connection is back, within <see cref="RedisOptions.OutageGrace"/>. Only for a
    /// write whose caller knows that carrying it out a second time changes nothing the first did not (a script that
    /// recognises its own earlier application and answers as it did then) or nothing that matters.</summary>
    Resend,
}
