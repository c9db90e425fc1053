using Platform.BuildingBlocks.Errors;

namespace Platform.RunnerRegistry.Domain;

/// <summary>
/// Runner and job labels: plain words (a runner takes a job when the job's labels are a subset of its own).
/// Stored trimmed, without duplicates, in ordinal order, so equal sets compare equal.
/// </summary>
public static class Labels
{
    public const int MaxLength = 100;
    public const int MaxCount = 50;

    public static string[] Normalize(IEnumerable<string> labels, string field)
    {
        var violations = new List<FieldViolation>();
        var result = new SortedSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var raw in labels)
        {
            var label = raw.Trim();
            if (label.Length == 0)
            {
                violations.Add(new FieldViolation($"{field}[{index}]", "must not be empty"));
            }
            else if (label.Length > MaxLength)
            {
                violations.Add(new FieldViolation($"{field}[{index}]", $"must be at most {MaxLength} characters"));
            }
            else if (label.Any(c => c == ',' || char.IsWhiteSpace(c) || char.IsControl(c)))
            {
                violations.Add(new FieldViolation($"{field}[{index}]", "must not contain commas or white space"));
            }
            else
            {
                result.Add(label);
            }

            index++;
        }

        if (result.Count > MaxCount)
        {
            violations.Add(new FieldViolation(field, $"must have at most {MaxCount} labels"));
        }

        return violations.Count > 0 ? throw new ValidationFailedException(violations) : [.. result];
    }

    public static string[] Union(IEnumerable<string> first, IEnumerable<string> second) =>
        [.. new SortedSet<string>(first.Concat(second), StringComparer.Ordinal)];
}
