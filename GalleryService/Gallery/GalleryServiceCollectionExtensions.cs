using System.Text.Json.Serialization.Metadata;
using DirectorsConsole.GalleryService.Gallery;
using DirectorsConsole.GalleryService.Gallery.Browsing;
using DirectorsConsole.GalleryService.Gallery.Catalog;
using DirectorsConsole.GalleryService.Gallery.Files;
using DirectorsConsole.GalleryService.Gallery.Search;
using DirectorsConsole.GalleryService.Gallery.Storage;
using DirectorsConsole.GalleryService.Gallery.Trash;

namespace Microsoft.Extensions.Hosting;

public static class GalleryServiceCollectionExtensions
{
    /// <summary>The gallery: options (section <c>Gallery</c>, validated at start), gallery.json storage with its
    /// Redis lock, scans, file operations, trash, catalog, search index, and the snake_case names of its requests and replies.</summary>
    public static IHostApplicationBuilder AddGallery(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<GalleryOptions>()
            .Bind(builder.Configuration.GetSection(GalleryOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.ConfigureHttpJsonOptions(options =>
            options.SerializerOptions.TypeInfoResolver = (options.SerializerOptions.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver())
                .WithAddedModifier(GalleryWireNames.Apply));
        builder.Services.ConfigureSwaggerGen(options => options.SchemaFilter<GalleryWireSchemaFilter>());

        builder.Services.AddSingleton<ProjectLock>();
        builder.Services.AddSingleton<GalleryStore>();
        builder.Services.AddSingleton<GalleryPaths>();
        builder.Services.AddSingleton<ProjectScanner>();
        builder.Services.AddSingleton<FileMoveExecutor>();
        builder.Services.AddSingleton<GalleryBrowser>();
        builder.Services.AddSingleton<GalleryFileOperations>();
        builder.Services.AddSingleton<GalleryTrash>();
        builder.Services.AddSingleton<GalleryCatalog>();
        builder.Services.AddSingleton<PngSearchIndex>();
        builder.Services.AddSingleton<GallerySearch>();
        return builder;
    }
}
