namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// The resources in the order <c>WaitFor</c> imposes, as levels: a level's resources wait only for those
/// of earlier levels. Start goes forward; stop goes backward, so dependents stop before what they need.
/// </summary>
public static class StartOrder
{
    public static IReadOnlyList<IReadOnlyList<Resource>> Compute(IReadOnlyList<Resource> resources)
    {
        var known = resources.ToHashSet();
        foreach (var resource in resources)
        {
            foreach (var dependency in resource.WaitsFor.Concat(resource.References).Where(d => !known.Contains(d)))
            {
                throw new AppHostConfigurationException(
                    $"'{resource.Name}' refers to '{dependency.Name}', which was not added to this application.");
            }
        }

        var levels = new List<IReadOnlyList<Resource>>();
        var placed = new HashSet<Resource>();
        while (placed.Count < resources.Count)
        {
            var level = resources.Where(r => !placed.Contains(r) && r.WaitsFor.All(placed.Contains)).ToList();
            if (level.Count == 0)
            {
                var cycle = resources.Where(r => !placed.Contains(r)).Select(r => r.Name);
                throw new AppHostConfigurationException($"WaitFor forms a cycle among: {string.Join(", ", cycle)}.");
            }

            levels.Add(level);
            placed.UnionWith(level);
        }

        return levels;
    }
}
