namespace DirectorsConsole.ComfyEmulator.Api;

public static class ComfyRoutes
{
    /// <summary>Maps every ComfyUI route twice, bare and under <c>/api</c>, as ComfyUI does; anything else is ComfyUI's text 404.</summary>
    public static WebApplication MapComfyApi(this WebApplication app)
    {
        foreach (var prefix in new[] { "", "/api" })
        {
            app.MapGroup(prefix)
                .MapServerInfoApi()
                .MapPromptApi()
                .MapQueueApi()
                .MapHistoryApi()
                .MapFilesApi()
                .MapWebSocketApi();
        }
        app.MapEmulatorControlApi();
        app.MapFallback(ComfyResults.NotFound);
        return app;
    }
}
