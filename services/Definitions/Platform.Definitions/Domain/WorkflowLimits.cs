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

    /// <summary>Nesting of YAML collections.</summary>
    public const int MaxYamlDepth = 64;

    /// <summary>YAML nodes after aliases are expanded (guards against alias bombs).</summary>
    public const int MaxYamlNodes = 100_000;
}
