using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.ServiceDefaults.Hosting;

/// <summary>
/// The JSON wire format of a service: its naming policy (snake_case for jobs, backends and path mappings;
/// camelCase for the gallery) and dates as ISO-8601 UTC (<see cref="FormatUtc"/>). Both the
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

    /// <summary>
    /// A point in time as every client of the original reads it: <c>2026-02-25T10:00:00.123456+00:00</c>. Python
    /// 3.8–3.10's <c>datetime.fromisoformat</c> (what the original's Python clients call) rejects a <c>Z</c> suffix
    /// and fractions of other than 3 or 6 digits, so the offset is written out and the fraction has 6 digits
    /// (what Python's own <c>isoformat()</c> writes); JavaScript's <c>Date</c> reads the same text.
    /// </summary>
    public static string FormatUtc(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture);

    /// <summary>Writes every <see cref="DateTimeOffset"/> with <see cref="FormatUtc"/>; reads any ISO-8601 form.</summary>
    public sealed class UtcDateTimeOffsetConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.GetDateTimeOffset();

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
            writer.WriteStringValue(FormatUtc(value));
    }
}
