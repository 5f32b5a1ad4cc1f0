namespace DirectorsConsole.ServiceDefaults.Access;

/// <summary>
/// What a caller may do, each role including the ones below it: <see cref="Viewer"/> reads, <see cref="Operator"/>
/// also changes things (submits, cancels, rates, renames, trashes, edits backends and path mappings),
/// <see cref="Admin"/> also reaches the debug and admin routes. <see cref="None"/> is no access at all.
/// </summary>
public enum ClientRole
{
    None = 0,
    Viewer = 1,
    Operator = 2,
    Admin = 3,
}

public static class ClientRoles
{
    /// <summary>The names config.yaml uses, lowercase.</summary>
    public static string Name(this ClientRole role) => role.ToString().ToLowerInvariant();

    /// <summary>Parses <c>none</c>, <c>viewer</c>, <c>operator</c> or <c>admin</c> (any case); false for anything else.</summary>
    public static bool TryParse(string? text, out ClientRole role)
    {
        role = ClientRole.None;
        return text is not null
               && !int.TryParse(text, out _)
               && Enum.TryParse(text.Trim(), ignoreCase: true, out role)
               && Enum.IsDefined(role);
    }
}
