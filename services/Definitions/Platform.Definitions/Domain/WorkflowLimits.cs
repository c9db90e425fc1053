namespace Platform.Definitions.Domain;

/// <summary>Bounds on what one workflow may hold, so that one request cannot exhaust the service.</summary>
public static class WorkflowLimits
{
    /// <summary>A YAML (or JSON) document to import, in UTF-8 bytes.</summary>
    public const int MaxYamlBytes = 256 * 1024;

    /// <summary>Steps of one workflow, parallel members included.</summary>
    public const int MaxSteps = 500;

    /// <summary>Workflow, step, agent and team names.</summary>
    public const int MaxNameLength = 200;

    public const int MaxDescriptionLength = 4096;

    /// <summary>One step's <c>with</c> map, serialised as JSON.</summary>
    public const int MaxWithBytes = 64 * 1024;

    /// <summary>A step's <c>if</c> condition, in characters.</summary>
    public const int MaxConditionLength = 4096;

    /// <summary>Entries of a retry policy's <c>non_retryable_exit_codes</c>.</summary>
    public const int MaxExitCodes = 256;

    /// <summary>Attempts a retry policy may ask for, the first included.</summary>
    public const int MaxAttempts = 100;

    /// <summary>Nesting of YAML collections.</summary>
    public const int MaxYamlDepth = 64;

    /// <summary>YAML nodes after aliases are expanded (guards against alias bombs).</summary>
    public const int MaxYamlNodes = 100_000;
}
