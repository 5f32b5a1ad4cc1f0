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

    /// <summary>Records the events of several prompts, one each (no previews), with one write, and then publishes those
    /// written, all at once; for each, false when its prompt had already ended (it was not published). Each is recorded and
    /// published as <see cref="PublishAsync"/> does it alone.</summary>
    public async Task<IReadOnlyList<bool>> PublishManyAsync(IReadOnlyList<(RenderEvent Event, InFlightPrompt? NowInFlight)> events, CancellationToken cancellationToken)
    {
        // Published at once, so in no order among themselves: only one event per prompt keeps each prompt's in order.
        if (events.Any(item => item.Event.Kind == RenderEventKinds.Preview) || events.DistinctBy(item => item.Event.PromptId).Count() != events.Count)
        {
            throw new ArgumentException("A batch holds one recorded event per prompt.", nameof(events));
        }

        // The state first (a final event also leaves the backend's in-flight hash), durable before anyone hears of it.
        // A caller that stops once the write is sent (its lease lost, its session ended) must not drop the publish:
        // the write makes this the prompt's last event, so no one else would ever publish it. So a stopped caller
        // writes nothing, and a write once sent is published; both are bounded by Redis's command timeout.
        cancellationToken.ThrowIfCancellationRequested();
        var written = await store.RecordPromptEventsAsync(
            events.Select(item => new PromptEventRecord(item.Event, JsonSerializer.Serialize(item.Event, EventJson), item.NowInFlight)).ToList(),
            CancellationToken.None);

        var publishes = new List<Task>(events.Count);
        for (var i = 0; i < events.Count; i++)
        {
            var renderEvent = events[i].Event;
            if (!written[i])
            {
                logger.LogDebug("Dropped {Kind} of prompt {PromptId}: it has already ended", renderEvent.Kind, renderEvent.PromptId);
                continue;
            }

            publishes.Add(eventBus.PublishAsync(RenderChannels.RenderEvents, renderEvent, CancellationToken.None));
            if (RenderEventKinds.IsFinal(renderEvent.Kind))
            {
                logger.LogInformation("Prompt {PromptId} of job {JobId} on backend {BackendId}: {Kind} {ErrorType} {Error}",
                    renderEvent.PromptId, renderEvent.JobId, renderEvent.BackendId, renderEvent.Kind, renderEvent.ErrorType, renderEvent.Error);
            }
        }

        await Task.WhenAll(publishes);
        return written;
    }
}
