namespace DirectorsConsole.ServiceDefaults; internal static class Placeholder { }
