using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Webhooks;

namespace DirectorsConsole.JobService.Tests.Engine;

public sealed class JobEngineOptionsTests
{
    [Fact]
    public void EveryBadSettingIsRefusedAtOnceNamingItsKey()
    {
        var options = new JobEngineOptions { SchedulerInterval = TimeSpan.Zero, HistoryMaxEntries = 5, MaxReassignments = 101, DefaultPrefetch = 17, PinnedPrefetch = -1 };

        var result = new JobEngineOptionsValidator().Validate(null, options);

        Assert.Equal(
            [
                "Jobs:SchedulerInterval must be a positive duration (it is 00:00:00).",
                "Jobs:HistoryMaxEntries must be between 10 and 100000 (it is 5).",
                "Jobs:MaxReassignments must be between 0 and 100 (it is 101).",
                "Jobs:DefaultPrefetch must be between 0 and 16 (it is 17).",
                "Jobs:PinnedPrefetch must be between 0 and 16 (it is -1).",
            ],
            result.Failures);
    }

    [Fact]
    public void WebhookSettingsAreRefusedInTheSameWords()
    {
        var options = new WebhookOptions { PollInterval = TimeSpan.FromSeconds(-1), MaxConcurrentDeliveries = 0 };

        var result = new WebhookOptionsValidator().Validate(null, options);

        Assert.Equal(
            [
                "Webhooks:PollInterval must be a positive duration (it is -00:00:01).",
                "Webhooks:MaxConcurrentDeliveries must be between 1 and 256 (it is 0).",
            ],
            result.Failures);
        Assert.True(new WebhookOptionsValidator().Validate(null, new WebhookOptions()).Succeeded);
    }
}
