using Xunit;

namespace DirectorsConsole.Testing;

/// <summary>Waits for a condition a service reaches on its own schedule (probes, lease rounds, health checks),
/// polling instead of sleeping a fixed time. Returns the last value, so the assertion that follows shows what was seen.</summary>
public static class Eventually
{
    public static async Task<T> ReturnsAsync<T>(Func<Task<T>> probe, Func<T, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var value = await probe();
            if (condition(value) || DateTime.UtcNow > deadline)
            {
                return value;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }
}
