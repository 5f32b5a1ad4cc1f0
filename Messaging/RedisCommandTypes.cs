namespace DirectorsConsole.Messaging;

/// <summary>Which end of a sorted set comes first: the lowest score (ascending) or the highest.</summary>
public enum SortOrder
{
    Ascending,
    Descending,
}

/// <summary>Which bounds of a score range are left out (both are included by default).</summary>
[Flags]
public enum Exclude
{
    None = 0,
    Start = 1,
    Stop = 2,
    Both = Start | Stop,
}

/// <summary>One step of a key scan: the keys found and the cursor to go on with ("0" when the scan is complete).</summary>
public sealed record KeyScanPage(string Cursor, IReadOnlyList<string> Keys);
