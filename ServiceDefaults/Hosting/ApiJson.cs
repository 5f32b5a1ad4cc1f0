using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.ServiceDefaults.Hosting;

/// <summary>
/// The JSON wire format of a service: its naming policy (snake_case for jobs, backends and path mappings;
/// camelCase for the gallery) and dates as ISO-8601 UTC ending in <c>Z</c>. Both the
/// minimal-API options and the MVC options are set because Swashbuckle reads its schema names from the latter.
/// </summary>
public static class ApiJson
{
    public static IServiceCollection ConfigureApiJson(this IServiceCollection services, JsonNamingPolicy namingPolicy)
    {
        services.ConfigureHttpJsonOptions(options => Apply(options.SerializerOptions, namingPolicy));
        services.Configure<Microsoft.AspNetCore.Mvc.JsonOptions>(options => Apply(options.JsonSerializerOptions, namingPolicy));
        return services;
    }

    public static void Apply(JsonSerializerOptions options, JsonNamingPolicy namingPolicy)
    {
        options.PropertyNamingPolicy = namingPolicy;
        options.DictionaryKeyPolicy = null;
        options.Converters.Add(new JsonStringEnumConverter(namingPolicy));
        options.Converters.Add(new UtcDateTimeOffsetConverter());
    }

    /// <summary>Writes every <see cref="DateTimeOffset"/> as UTC with a <c>Z</c> suffix; reads any ISO-8601 form.</summary>
    public sealed class UtcDateTimeOffsetConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.GetDateTimeOffset();

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
    }
}
