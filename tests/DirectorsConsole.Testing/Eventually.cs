using System.Collections;
using Xunit;

namespace DirectorsConsole.Testing;

/// <summary>Waits for a condition a service reaches on its own schedule (probes, lease rounds, health checks),
/// polling instead of sleeping a fixed time. Returns the value that satisfied the condition; fails the test, showing
/// the last value seen, when the condition does not hold within the timeout.</summary>
public static class Eventually
{
    public static async Task<T> ReturnsAsync<T>(Func<Task<T>> probe, Func<T, bool> condition, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(15);
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var value = await probe();
            if (condition(value))
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"The condition did not hold within {limit.TotalSeconds:0.#} s; the last value seen: {Describe(value)}");
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    private static string Describe(object? value) => value switch
    {
        null => "null",
        string text => $"\"{text}\"",
        IEnumerable items => $"[{string.Join(", ", items.Cast<object?>().Select(Describe))}]",
        _ => value.ToString() ?? value.GetType().Name,
    };
}
