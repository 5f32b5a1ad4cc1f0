namespace DirectorsConsole.Gateway.Tests;

/// <summary>Waits for a condition that the gateway reaches on its own schedule (health probes every 2 s).</summary>
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

            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
    }
}
