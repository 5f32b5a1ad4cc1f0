using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Project;

/// <summary>
/// Every field that names one file or folder (an image, a project file, a new folder, a rename target) refuses what
/// is not a plain name with a 422 in the list form: a path where a name belongs, <c>..</c>, Windows device names with
/// any extension and in any case, NUL, a trailing dot or space, a name over 255 bytes. Nothing is created.
/// </summary>
public sealed class NameRulesTests(ProjectEnvironment environment) : IClassFixture<ProjectEnvironment>
{
    private const string Png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

    public static TheoryData<string, string> Cases
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var name in new[] { "/etc/cron.d/x.png", "\\etc\\x.png", "C:\\x.png", "../x.png", "Panel_01/../../x.png", "CON.png", "com1.tar.png", "Lpt9.png", "nul.png", "x.png.", "x.png ", "a\u0000.png", new string('a', 300) + ".png" })
            {
                data.Add("save-base64-image", name);
            }

            foreach (var name in new[] { "/etc/x.json", "sub/x.json", "..\\x.json", "NUL.json", "aux.backup.json", "Com9.json", "x .json ", "a\u0000.json" })
            {
                data.Add("save-project", name);
            }

            foreach (var name in new[] { "a/b", "/tmp/x", "..", "PRN", "lpt3.txt", "folder.", "folder ", "a\u0000b", new string('f', 256) })
            {
                data.Add("create-folder", name);
            }

            foreach (var name in new[] { "a/b.png", "/etc/passwd", "..", "CON.png", "conout$.png", "x.png.", "a\u0000.png" })
            {
                data.Add("rename-file", name);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task ANameThatIsNotAPlainFileNameIs422AndCreatesNothing(string endpoint, string name)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        var project = environment.ProjectFolder;
        var before = Directory.GetFileSystemEntries(project, "*", SearchOption.AllDirectories).Order().ToList();
        var (path, body) = endpoint switch
        {
            "save-base64-image" => ("/api/save-base64-image", (object)new { dataUrl = Png, folderPath = project, filename = name }),
            "save-project" => ("/api/save-project", new { folderPath = project, filename = name, state = new { } }),
            "create-folder" => ("/api/create-folder", new { parentPath = project, folderName = name }),
            _ => ("/api/gallery/rename-file", new { projectPath = project, filePath = "Panel_02/Eliot_Panel02_v003.png", newName = name }),
        };

        // Act
        using var response = await environment.Client.PostAsJsonAsync(path, body, ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var errors = Assert.IsType<JsonArray>((await ProjectEnvironment.ReadJsonAsync(response))["detail"]);
        Assert.NotEmpty((string?)errors[0]!["msg"] ?? "");
        Assert.Equal(before, Directory.GetFileSystemEntries(project, "*", SearchOption.AllDirectories).Order().ToList());
        Assert.False(File.Exists("/etc/cron.d/x.png"));
    }
}
