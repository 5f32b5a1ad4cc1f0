using System.Text.Json;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>
/// Publishes <see cref="RenderEvent"/>s on <see cref="RenderChannels.RenderEvents"/> and keeps the last one in the
/// prompt's state (<see cref="DispatchStore.RecordPromptEventsAsync"/>). Once a prompt has a final event nothing more is written or
/// published for it, so a backend that comes back, a redelivered command or a late socket message never reports
/// a prompt twice. Previews are published only: they are transient and large.
/// </summary>
public sealed class RenderEventPublisher(DispatchStore store, IEventBus eventBus, ILogger<RenderEventPublisher> logger)
{
    /// <summary>The JSON of the <c>event</c> field: the same web defaults the event bus uses for its data.</summary>
    public static readonly JsonSerializerOptions EventJson = new(JsonSerializerDefaults.Web);

    /// <summary>Records and publishes the event; false when the prompt had already ended (nothing was published).
    /// A final event also removes the prompt from its backend's in-flight hash; <paramref name="nowInFlight"/> is added
    /// to it with the event (<see cref="DispatchStore.RecordPromptEventsAsync"/>).</summary>
    public async Task<bool> PublishAsync(RenderEvent renderEvent, CancellationToken cancellationToken, InFlightPrompt? nowInFlight = null)
    {
        if (renderEvent.Kind == RenderEventKinds.Preview)
        {
            await eventBus.PublishAsync(RenderChannels.RenderEvents, renderEvent, cancellationToken);
            return true;
        }

        return (await PublishManyAsync([(renderEvent, nowInFlight)], cancellationToken))[0];
    }

    /// <summary>Records several events, of one prompt or several, with one write (in their order; previews are only
    /// published), and then publishes those written and the previews: each prompt's in their order, different prompts'
    /// at once. For each, false when its prompt had already ended (it was not published). Each is recorded and published
    /// as <see cref="PublishAsync"/> does it alone.</summary>
    public async Task<IReadOnlyList<bool>> PublishManyAsync(IReadOnlyList<(RenderEvent Event, InFlightPrompt? NowInFlight)> events, CancellationToken cancellationToken)
    {
        // The state first (a final event also leaves the backend's in-flight hash), durable before anyone hears of it.
        // A caller that stops once the write is sent (its lease lost, its session ended) must not drop the publish:
        // the write makes this the prompt's last event, so no one else would ever publish it. So a stopped caller
        // writes nothing, and a write once sent is published; both are bounded by Redis's command timeout.
        cancellationToken.ThrowIfCancellationRequested();
        var written = new bool[events.Count];
        var recorded = Enumerable.Range(0, events.Count).Where(i => events[i].Event.Kind != RenderEventKinds.Preview).ToList();
        if (recorded.Count > 0)
        {
            var results = await store.RecordPromptEventsAsync(
                recorded.Select(i => new PromptEventRecord(events[i].Event, JsonSerializer.Serialize(events[i].Event, EventJson), events[i].NowInFlight)).ToList(),
                CancellationToken.None);
            for (var j = 0; j < recorded.Count; j++)
            {
                written[recorded[j]] = results[j];
            }
        }

        // One chain of publishes per prompt: a prompt's events reach subscribers in their order.
        var chains = new Dictionary<string, Task>(StringComparer.Ordinal);
        for (var i = 0; i < events.Count; i++)
        {
            var renderEvent = events[i].Event;
            if (renderEvent.Kind == RenderEventKinds.Preview)
            {
                written[i] = true;
            }
            else if (!written[i])
            {
                logger.LogDebug("Dropped {Kind} of prompt {PromptId}: it has already ended", renderEvent.Kind, renderEvent.PromptId);
                continue;
            }
            else if (RenderEventKinds.IsFinal(renderEvent.Kind))
            {
                logger.LogInformation("Prompt {PromptId} of job {JobId} on backend {BackendId}: {Kind} {ErrorType} {Error}",
                    renderEvent.PromptId, renderEvent.JobId, renderEvent.BackendId, renderEvent.Kind, renderEvent.ErrorType, renderEvent.Error);
            }

            chains[renderEvent.PromptId] = chains.TryGetValue(renderEvent.PromptId, out var before)
                ? PublishAfterAsync(before, renderEvent)
                : eventBus.PublishAsync(RenderChannels.RenderEvents, renderEvent, CancellationToken.None);
        }

        await Task.WhenAll(chains.Values);
        return written;
    }

    private async Task PublishAfterAsync(Task before, RenderEvent renderEvent)
    {
        await before;
        await eventBus.PublishAsync(RenderChannels.RenderEvents, renderEvent, CancellationToken.None);
    }
}
