using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>Marks a request body that also accepts the original's snake_case names (<c>project_path</c> for
/// <c>projectPath</c>), and any names listed with <see cref="AlsoAcceptsAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class AcceptsSnakeCaseAttribute : Attribute;

/// <summary>Another name the original used for this field (<c>file_paths</c> for <c>files</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = true)]
public sealed class AlsoAcceptsAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>
/// A System.Text.Json contract modifier: for types marked <see cref="AcceptsSnakeCaseAttribute"/> it adds, beside each
/// camelCase property, read-only aliases (set when reading, never written) under the snake_case name and the
/// <see cref="AlsoAcceptsAttribute"/> names. One rule for every gallery request instead of a second property each.
/// </summary>
public static class SnakeCaseAliases
{
    public static void Add(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Kind != JsonTypeInfoKind.Object || !typeInfo.Type.IsDefined(typeof(AcceptsSnakeCaseAttribute), inherit: false))
        {
            return;
        }

        var names = typeInfo.Properties.Select(property => property.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var property in typeInfo.Properties.ToArray())
        {
            if (property.Set is null)
            {
                continue;
            }

            var aliases = (property.AttributeProvider?.GetCustomAttributes(typeof(AlsoAcceptsAttribute), inherit: false) ?? [])
                .Cast<AlsoAcceptsAttribute>()
                .Select(alias => alias.Name)
                .Prepend(JsonNamingPolicy.SnakeCaseLower.ConvertName(property.Name));
            foreach (var alias in aliases.Where(names.Add))
            {
                var info = typeInfo.CreateJsonPropertyInfo(property.PropertyType, alias);
                info.Set = property.Set;
                info.CustomConverter = property.CustomConverter;
                typeInfo.Properties.Add(info);
            }
        }
    }
}
