using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DirectorsConsole.GalleryService.Gallery.Storage;

/// <summary>
/// <c>{project}/.gallery/gallery.json</c> in the original's schema (the original server), so a project opened by the old
/// tool keeps its ratings and tags. File keys are paths relative to the project with <c>/</c> (the old tool's
/// Windows <c>\</c> keys are read as <c>/</c>). Fields this service does not know are kept as they were.
/// Every change goes through a method here, which records whether anything really changed.
/// </summary>
public sealed class GalleryDocument
{
    public const int CurrentSchemaVersion = 2;

    [JsonPropertyName("_schema_version")]
    public int SchemaVersion { get; set; } = CurrentSchemaVersion;

    [JsonPropertyName("_next_tag_id")]
    public long NextTagId { get; set; } = 1;

    [JsonPropertyName("_next_view_id")]
    public long NextViewId { get; set; } = 1;

    /// <summary>Ours, not the original's: counts the writes, so a log line can say which version it saw.</summary>
    [JsonPropertyName("_revision")]
    public long Revision { get; set; }

    [JsonPropertyName("files")]
    public Dictionary<string, GalleryFileRecord> Files { get; set; } = new(StringComparer.Ordinal);

    [JsonPropertyName("tags")]
    public Dictionary<string, GalleryTagRecord> Tags { get; set; } = new(StringComparer.Ordinal);

    [JsonPropertyName("views")]
    public Dictionary<string, GalleryViewRecord> Views { get; set; } = new(StringComparer.Ordinal);

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }

    [JsonIgnore]
    public bool Changed { get; private set; }

    public int RatingOf(string key) => Files.TryGetValue(key, out var file) ? file.Rating : 0;

    public IReadOnlyList<string> TagsOf(string key) => Files.TryGetValue(key, out var file) ? file.TagIds : [];

    /// <summary>Sets a rating of 1–5; 0 removes it (and the record, when nothing else is kept for the file).</summary>
    public void SetRating(string key, int rating, DateTimeOffset now)
    {
        if (RatingOf(key) == rating)
        {
            return;
        }

        Record(key, now).Rating = rating;
        DropIfEmpty(key);
        Changed = true;
    }

    public IReadOnlyList<string> ChangeFileTags(string key, IEnumerable<string> add, IEnumerable<string> remove, DateTimeOffset now)
    {
        var record = Record(key, now);
        var before = record.TagIds.ToList();
        record.TagIds.RemoveAll(remove.Contains);
        foreach (var id in add.Where(id => !record.TagIds.Contains(id)))
        {
            record.TagIds.Add(id);
        }

        Changed |= !before.SequenceEqual(record.TagIds);
        var result = record.TagIds.ToList();
        DropIfEmpty(key);
        return result;
    }

    /// <summary>Moves records to new keys (files moved or renamed). All old records are taken out first, so
    /// swaps and chains (a→b, b→c) come out right; a record moved onto an existing key replaces it.</summary>
    public void Rekey(IEnumerable<(string From, string To)> moves)
    {
        var taken = new List<(string To, GalleryFileRecord Record)>();
        foreach (var (from, to) in moves)
        {
            if (from != to && Files.Remove(from, out var record))
            {
                taken.Add((to, record));
            }
        }

        foreach (var (to, record) in taken)
        {
            Files[to] = record;
            Changed = true;
        }
    }

    /// <summary>Removes the records of files that are gone (overwritten or deleted).</summary>
    public void Forget(IEnumerable<string> keys)
    {
        foreach (var key in keys)
        {
            Changed |= Files.Remove(key);
        }
    }

    /// <summary>Takes a file's record out (the file goes to the trash); null when it had none.</summary>
    public GalleryFileRecord? TakeOut(string key)
    {
        if (!Files.Remove(key, out var record))
        {
            return null;
        }

        Changed = true;
        return record;
    }

    /// <summary>Puts a record back (the file came back from the trash); tags deleted meanwhile are dropped.</summary>
    public void PutBack(string key, GalleryFileRecord record)
    {
        record.TagIds.RemoveAll(id => !Tags.ContainsKey(id));
        Files[key] = record;
        DropIfEmpty(key);
        Changed = true;
    }

    public int FileCountOf(string tagId) => Files.Values.Count(file => file.TagIds.Contains(tagId));

    public (string Id, GalleryTagRecord Tag) CreateTag(string name, string color)
    {
        // Numeric ids from _next_tag_id, as the original wrote them, so the old tool can still read its tags.
        var id = NextTagId.ToString(CultureInfo.InvariantCulture);
        while (Tags.ContainsKey(id))
        {
            id = (++NextTagId).ToString(CultureInfo.InvariantCulture);
        }

        NextTagId++;
        var tag = new GalleryTagRecord { Name = name, Color = color };
        Tags[id] = tag;
        Changed = true;
        return (id, tag);
    }

    public GalleryTagRecord UpdateTag(string id, string? name, string? color)
    {
        var tag = Tags[id];
        if (name is not null && name != tag.Name)
        {
            tag.Name = name;
            Changed = true;
        }

        if (color is not null && color != tag.Color)
        {
            tag.Color = color;
            Changed = true;
        }

        return tag;
    }

    /// <summary>Deletes a tag and takes it off every file; returns how many files had it.</summary>
    public int DeleteTag(string id)
    {
        Tags.Remove(id);
        var files = 0;
        foreach (var key in Files.Keys.ToList())
        {
            if (Files[key].TagIds.Remove(id))
            {
                files++;
                DropIfEmpty(key);
            }
        }

        Changed = true;
        return files;
    }

    public string? FindTagByName(string name) =>
        Tags.FirstOrDefault(tag => string.Equals(tag.Value.Name, name, StringComparison.OrdinalIgnoreCase)).Key;

    /// <summary>Creates or replaces the view called <paramref name="name"/>, keeping its id; only one view is the default.</summary>
    public GalleryViewRecord SaveView(string name, GalleryViewRecord view)
    {
        if (Views.TryGetValue(name, out var existing))
        {
            view.Id = existing.Id;
            view.Extra = existing.Extra;
        }
        else
        {
            view.Id = NextViewId++;
        }

        if (view.IsDefault)
        {
            foreach (var other in Views.Where(v => v.Key != name && v.Value.IsDefault))
            {
                other.Value.IsDefault = false;
            }
        }

        Views[name] = view;
        Changed = true;
        return view;
    }

    /// <summary>Brings a file read from disk to this service's form: <c>/</c> keys, no duplicate tag ids.</summary>
    public GalleryDocument Normalize()
    {
        if (Files.Keys.Any(key => key.Contains('\\')))
        {
            var files = new Dictionary<string, GalleryFileRecord>(StringComparer.Ordinal);
            foreach (var (key, record) in Files)
            {
                // A Windows key and a Linux key for the same file: keep the rating that is set and merge the tags.
                var normal = key.Replace('\\', '/');
                if (files.TryGetValue(normal, out var other))
                {
                    other.Rating = other.Rating != 0 ? other.Rating : record.Rating;
                    other.TagIds.AddRange(record.TagIds.Where(id => !other.TagIds.Contains(id)));
                }
                else
                {
                    files[normal] = record;
                }
            }

            Files = files;
        }

        foreach (var record in Files.Values)
        {
            if (record.TagIds.Distinct().Count() != record.TagIds.Count)
            {
                record.TagIds = record.TagIds.Distinct().ToList();
            }
        }

        return this;
    }

    private GalleryFileRecord Record(string key, DateTimeOffset now)
    {
        if (!Files.TryGetValue(key, out var record))
        {
            record = new GalleryFileRecord { CreatedAt = now.ToUnixTimeMilliseconds() / 1000.0 };
            Files[key] = record;
        }

        return record;
    }

    private void DropIfEmpty(string key)
    {
        if (Files.TryGetValue(key, out var record) && record.IsEmpty)
        {
            Files.Remove(key);
        }
    }
}

/// <summary>One file's entry: <c>{rating 0-5, notes, tag_ids[int], last_viewed, created_at epoch}</c>.</summary>
public sealed class GalleryFileRecord
{
    [JsonPropertyName("rating")]
    public int Rating { get; set; }

    [JsonPropertyName("notes")]
    public string? Notes { get; set; }

    [JsonPropertyName("tag_ids")]
    [JsonConverter(typeof(TagIdListConverter))]
    public List<string> TagIds { get; set; } = [];

    [JsonPropertyName("created_at")]
    public double? CreatedAt { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>Nothing worth keeping: no rating, tags, notes or fields of the old tool (such as last_viewed).</summary>
    [JsonIgnore]
    public bool IsEmpty => Rating == 0 && TagIds.Count == 0 && string.IsNullOrEmpty(Notes)
        && (Extra is null || Extra.Values.All(value => value.ValueKind is JsonValueKind.Null));
}

public sealed class GalleryTagRecord
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("color")]
    public string Color { get; set; } = "#808080";

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>A saved view: the original's fields, with its string-encoded JSON for filters and folder state.</summary>
public sealed class GalleryViewRecord
{
    [JsonPropertyName("view_mode")]
    public string ViewMode { get; set; } = "grid";

    [JsonPropertyName("sort_field")]
    public string SortField { get; set; } = "name";

    [JsonPropertyName("sort_direction")]
    public string SortDirection { get; set; } = "asc";

    [JsonPropertyName("thumbnail_size")]
    public int ThumbnailSize { get; set; } = 200;

    [JsonPropertyName("filters_json")]
    public string FiltersJson { get; set; } = "{}";

    [JsonPropertyName("current_path")]
    public string CurrentPath { get; set; } = "";

    [JsonPropertyName("folder_tree_state")]
    public string FolderTreeState { get; set; } = "{}";

    [JsonPropertyName("is_default")]
    public bool IsDefault { get; set; }

    [JsonPropertyName("id")]
    public long Id { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>The original stores tag ids as integers; this service uses them as strings and writes the numeric
/// ones back as integers, so both tools read each other's files.</summary>
public sealed class TagIdListConverter : JsonConverter<List<string>>
{
    public override List<string> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return [];
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException("tag_ids must be an array.");
        }

        var ids = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            ids.Add(reader.TokenType switch
            {
                JsonTokenType.Number => reader.GetInt64().ToString(CultureInfo.InvariantCulture),
                JsonTokenType.String => reader.GetString()!,
                _ => throw new JsonException("tag_ids holds something that is neither a number nor a string."),
            });
        }

        return ids;
    }

    public override void Write(Utf8JsonWriter writer, List<string> value, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (var id in value)
        {
            if (long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                writer.WriteNumberValue(number);
            }
            else
            {
                writer.WriteStringValue(id);
            }
        }

        writer.WriteEndArray();
    }
}
