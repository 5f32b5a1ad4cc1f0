using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>Marks a request body that also accepts the camelCase names (<c>projectPath</c> beside
/// <c>project_path</c>), and any names listed with <see cref="AlsoAcceptsAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class AcceptsCamelCaseAttribute : Attribute;

/// <summary>Another name a client uses for this field (<c>file_paths</c> for <c>files</c>).</summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = true)]
public sealed class AlsoAcceptsAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>
/// The gallery's JSON names, as a System.Text.Json contract modifier. Every type of the gallery's wire contract (the
/// requests and replies in this namespace) is written in the original server's snake_case whatever the service's
/// naming policy, since the original web app reads those names. Request types marked
/// <see cref="AcceptsCamelCaseAttribute"/> also get read-only aliases (set when reading, never written) under the
/// camelCase name and the <see cref="AlsoAcceptsAttribute"/> names: one rule for every request instead of a second
/// property each.
/// </summary>
public static class GalleryWireNames
{
    private static readonly string WireNamespace = typeof(GalleryWireNames).Namespace!;

    public static void Apply(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Kind != JsonTypeInfoKind.Object || typeInfo.Type.Namespace != WireNamespace)
        {
            return;
        }

        foreach (var property in typeInfo.Properties)
        {
            if (property.AttributeProvider is MemberInfo member && !member.IsDefined(typeof(JsonPropertyNameAttribute)))
            {
                property.Name = JsonNamingPolicy.SnakeCaseLower.ConvertName(member.Name);
            }
        }

        if (typeInfo.Type.IsDefined(typeof(AcceptsCamelCaseAttribute), inherit: false))
        {
            AddAliases(typeInfo);
        }
    }

    private static void AddAliases(JsonTypeInfo typeInfo)
    {
        var names = typeInfo.Properties.Select(property => property.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var property in typeInfo.Properties.ToArray())
        {
            if (property.Set is null || property.AttributeProvider is not MemberInfo member)
            {
                continue;
            }

            var aliases = member.GetCustomAttributes<AlsoAcceptsAttribute>()
                .Select(alias => alias.Name)
                .Prepend(JsonNamingPolicy.CamelCase.ConvertName(member.Name));
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

/// <summary>The OpenAPI side of <see cref="GalleryWireNames"/>: the schemas of the gallery's wire types show the
/// snake_case names the service really writes (the schema generator reads only the service's naming policy).</summary>
public sealed class GalleryWireSchemaFilter : Swashbuckle.AspNetCore.SwaggerGen.ISchemaFilter
{
    public void Apply(Microsoft.OpenApi.IOpenApiSchema schema, Swashbuckle.AspNetCore.SwaggerGen.SchemaFilterContext context)
    {
        if (context.Type.Namespace != typeof(GalleryWireNames).Namespace || schema.Properties is not { Count: > 0 } properties)
        {
            return;
        }

        foreach (var (name, property) in properties.ToList())
        {
            var wireName = JsonNamingPolicy.SnakeCaseLower.ConvertName(name);
            if (wireName != name)
            {
                properties.Remove(name);
                properties[wireName] = property;
                if (schema.Required?.Remove(name) == true)
                {
                    schema.Required.Add(wireName);
                }
            }
        }
    }
}
