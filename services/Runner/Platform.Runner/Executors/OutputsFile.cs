namespace Platform.Runner.Executors;

/// <summary>The file named by <c>PLATFORM_OUTPUTS</c>: one <c>key=value</c> per line. Blank lines and lines without
/// '=' are ignored; the value is everything after the first '='; a later line wins over an earlier one.</summary>
public static class OutputsFile
{
    public const int MaxBytes = 1024 * 1024;

    public static IReadOnlyDictionary<string, string> Parse(string content)
    {
        var outputs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var rawLine in content.Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            var separator = line.IndexOf('=', StringComparison.Ordinal);
            if (string.IsNullOrWhiteSpace(line) || separator < 0)
            {
                continue;
            }

            var key = line[..separator].Trim();
            if (key.Length > 0)
            {
                outputs[key] = line[(separator + 1)..];
            }
        }

        return outputs;
    }

    public static async Task<IReadOnlyDictionary<string, string>> ReadAsync(string path)
    {
        if (!File.Exists(path))
        {
            return new Dictionary<string, string>();
        }

        await using var stream = File.OpenRead(path);
        var buffer = new byte[(int)Math.Min(stream.Length, MaxBytes)];
        await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false);
        return Parse(System.Text.Encoding.UTF8.GetString(buffer));
    }
}
