using System.Text.Json.Nodes;
using DirectorsConsole.Gateway.Routing;

namespace DirectorsConsole.Gateway.OpenApi;

/// <summary>One input of the merged document: a service's OpenAPI document, or why it could not be had.</summary>
public sealed record OpenApiSource(string Name, JsonObject? Document, string? Unavailable)
{
    /// <summary>The gateway's own document: its paths are not filtered through the route table.</summary>
    public const string GatewayName = "gateway";
}

/// <summary>The merged document and the paths left out because the gateway does not route them there.</summary>
public sealed record MergedOpenApi(JsonObject Document, IReadOnlyList<string> SkippedPaths);

/// <summary>
/// Merges the services' OpenAPI documents into one. Components with the same name and the same content
/// are shared; a later one that differs is renamed <c>{service}_{Name}</c> and every <c>$ref</c> of its
/// document follows, so each operation keeps its own schema.
/// </summary>
public static class OpenApiMerger
{
    public const string Title = "DirectorsConsole API";
    private const string ComponentsRef = "#/components/";

    public static MergedOpenApi Merge(IReadOnlyList<OpenApiSource> sources, string version)
    {
        var paths = new JsonObject();
        var components = new JsonObject();
        var tags = new JsonArray();
        var skipped = new List<string>();

        foreach (var source in sources)
        {
            if (source.Document is null)
            {
                continue;
            }

            var document = (JsonObject)source.Document.DeepClone();
            var incoming = document["components"] as JsonObject ?? [];
            var renames = RenamesFor(source.Name, incoming, components);
            RewriteRefs(document, renames);
            MergeComponents(incoming, components, renames);
            MergePaths(source, document["paths"] as JsonObject ?? [], paths, skipped);
            MergeTags(document["tags"] as JsonArray ?? [], tags);
        }

        var merged = new JsonObject
        {
            // The services' version; the gateway's own document is serialized to match it.
            ["openapi"] = sources.OrderBy(s => s.Name == OpenApiSource.GatewayName)
                .Select(s => AsString(s.Document?["openapi"])).FirstOrDefault(v => v is not null) ?? "3.0.4",
            ["info"] = new JsonObject
            {
                ["title"] = Title,
                ["version"] = version,
                ["description"] = Describe(sources),
            },
            ["paths"] = paths,
            ["components"] = components,
            ["tags"] = tags,
        };
        return new MergedOpenApi(merged, skipped);
    }

    /// <summary>
    /// The components of one document that must be renamed, as old <c>$ref</c> → new <c>$ref</c>. Repeats
    /// until nothing changes, because renaming one schema changes every schema that refers to it.
    /// </summary>
    private static Dictionary<string, string> RenamesFor(string service, JsonObject incoming, JsonObject merged)
    {
        var renames = new Dictionary<string, string>(StringComparer.Ordinal);
        bool changed;
        do
        {
            changed = false;
            foreach (var (section, name, component) in Entries(incoming))
            {
                var reference = $"{ComponentsRef}{section}/{name}";
                if (renames.ContainsKey(reference) || (merged[section] as JsonObject)?[name] is not { } existing)
                {
                    continue;
                }

                var rewritten = component?.DeepClone();
                RewriteRefs(rewritten, renames);
                if (!JsonNode.DeepEquals(existing, rewritten))
                {
                    renames[reference] = $"{ComponentsRef}{section}/{UniqueName(merged[section] as JsonObject, $"{service}_{name}")}";
                    changed = true;
                }
            }
        }
        while (changed);

        return renames;
    }

    private static void MergeComponents(JsonObject incoming, JsonObject merged, Dictionary<string, string> renames)
    {
        foreach (var (section, name, component) in Entries(incoming))
        {
            if (merged[section] is not JsonObject target)
            {
                merged[section] = target = [];
            }

            var finalName = renames.TryGetValue($"{ComponentsRef}{section}/{name}", out var renamed)
                ? renamed[(ComponentsRef.Length + section.Length + 1)..]
                : name;
            if (!target.ContainsKey(finalName))
            {
                target[finalName] = component?.DeepClone();
            }
        }
    }

    private static void MergePaths(OpenApiSource source, JsonObject incoming, JsonObject merged, List<string> skipped)
    {
        foreach (var (path, item) in incoming)
        {
            // A service may describe paths the gateway does not send to it (its own health, internals);
            // the merged document lists only what works through the gateway.
            if (source.Name != OpenApiSource.GatewayName && ServiceRoutes.OwnerOf(path) != source.Name)
            {
                skipped.Add($"{source.Name} {path}");
                continue;
            }

            if (merged[path] is not JsonObject target)
            {
                merged[path] = item?.DeepClone();
                continue;
            }

            foreach (var (operation, body) in (item as JsonObject ?? []).Where(entry => !target.ContainsKey(entry.Key)))
            {
                target[operation] = body?.DeepClone();
            }
        }
    }

    private static void MergeTags(JsonArray incoming, JsonArray merged)
    {
        var known = merged.Select(tag => AsString(tag?["name"])).ToHashSet(StringComparer.Ordinal);
        foreach (var tag in incoming.OfType<JsonObject>().Where(tag => known.Add(AsString(tag["name"]))))
        {
            merged.Add(tag.DeepClone());
        }
    }

    private static string Describe(IReadOnlyList<OpenApiSource> sources)
    {
        var services = sources.Where(s => s.Name != OpenApiSource.GatewayName).ToArray();
        var description = $"The whole DirectorsConsole suite behind its gateway, merged from the OpenAPI documents of {string.Join(", ", services.Select(s => s.Name))}.";
        var unavailable = services.Where(s => s.Document is null).Select(s => $"{s.Name} ({s.Unavailable})").ToArray();
        return unavailable.Length == 0
            ? description
            : $"{description}\n\nUnavailable when this document was built, so their endpoints are missing: {string.Join(", ", unavailable)}.";
    }

    private static IEnumerable<(string Section, string Name, JsonNode? Component)> Entries(JsonObject components) =>
        components.Where(section => section.Value is JsonObject)
            .SelectMany(section => ((JsonObject)section.Value!).Select(entry => (section.Key, entry.Key, entry.Value)))
            .ToArray();

    private static string UniqueName(JsonObject? section, string name)
    {
        var candidate = name;
        for (var suffix = 2; section?.ContainsKey(candidate) == true; suffix++)
        {
            candidate = $"{name}{suffix}";
        }

        return candidate;
    }

    private static void RewriteRefs(JsonNode? node, IReadOnlyDictionary<string, string> renames)
    {
        if (renames.Count == 0)
        {
            return;
        }

        switch (node)
        {
            case JsonObject obj:
                if (AsString(obj["$ref"]) is { } reference && renames.TryGetValue(reference, out var renamed))
                {
                    obj["$ref"] = renamed;
                }

                foreach (var (_, child) in obj.ToArray())
                {
                    RewriteRefs(child, renames);
                }

                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    RewriteRefs(child, renames);
                }

                break;
        }
    }

    private static string? AsString(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
}
