using DirectorsConsole.JobService.Webhooks;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

public static class WebhookServiceCollectionExtensions
{
    /// <summary>Webhooks: the signing secret, the outbox the job engine queues deliveries in, and the delivery loop,
    /// with their options (section <c>Webhooks</c>, secret <c>webhook_secret</c>) validated at start.</summary>
    public static IHostApplicationBuilder AddWebhooks(this IHostApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        builder.Services.AddOptions<WebhookOptions>()
            .Bind(configuration.GetSection(WebhookOptions.SectionName))
            .Configure(options => options.Secret ??= configuration[WebhookOptions.SecretKey] is { Length: > 0 } secret ? secret : null)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidator>();
        builder.Services.AddSingleton<WebhookSigner>();
        builder.Services.AddSingleton<WebhookOutbox>();
        builder.Services.AddHostedService<WebhookDeliveryWorker>();
        return builder;
    }
}
