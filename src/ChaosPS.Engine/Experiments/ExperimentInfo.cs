using System.Text.Json.Nodes;

namespace ChaosPS.Experiments;

/// <summary>An experiment file shipped with ChaosPS: what it is called, what it shows, where it is.</summary>
public sealed class ExperimentInfo
{
    public string Name { get; init; } = "";
    public string Title { get; init; } = "";
    public string[] Tags { get; init; } = [];
    public string Description { get; init; } = "";
    /// <summary>Configuration names and their defaults: what to set to aim it at another system.</summary>
    public string[] Configuration { get; init; } = [];
    public string Path { get; init; } = "";

    public override string ToString() => Name;

    /// <summary>
    /// The .json experiments in a folder, and the .psd1 ones when <paramref name="readPsd1"/> can read them (a file
    /// that does not parse is listed with its error as description).
    /// </summary>
    public static IEnumerable<ExperimentInfo> List(string directory, Func<string, JsonObject>? readPsd1 = null)
    {
        if (!Directory.Exists(directory)) yield break;
        var files = Directory.EnumerateFiles(directory, "*.json");
        if (readPsd1 is not null) files = files.Concat(Directory.EnumerateFiles(directory, "*.psd1"));
        foreach (var file in files.Order(StringComparer.Ordinal))
        {
            ExperimentInfo info;
            try
            {
                var doc = file.EndsWith(".psd1", StringComparison.OrdinalIgnoreCase) ? readPsd1!(file) : ExperimentLoader.ReadJsonFile(file);
                info = new ExperimentInfo
                {
                    Name = System.IO.Path.GetFileNameWithoutExtension(file), Title = doc["title"]?.ToString() ?? "",
                    Tags = doc["tags"] is JsonArray a ? a.Select(t => t?.ToString() ?? "").ToArray() : [],
                    Description = doc["description"]?.ToString() ?? "",
                    Configuration = doc["configuration"] is JsonObject c ? c.Select(kv => kv.Value is JsonObject e && e["key"] is { } k
                        ? $"{kv.Key} (env {k}, default {e["default"]?.ToJsonString() ?? "none"})" : $"{kv.Key} = {kv.Value?.ToJsonString()}").ToArray() : [],
                    Path = file,
                };
            }
            catch (ExperimentException e)
            {
                info = new ExperimentInfo { Name = System.IO.Path.GetFileNameWithoutExtension(file), Description = "(invalid) " + e.Message, Path = file };
            }
            yield return info;
        }
    }
}
