namespace DirectorsConsole.Testing; internal static class Placeholder { }
