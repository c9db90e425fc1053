using Platform.BuildingBlocks.Errors;

namespace Platform.Triggers.Domain;

/// <summary>What a schedule does when a slot comes while the execution it started last is still running.</summary>
public enum OverlapPolicy
{
    /// <summary>The slot starts nothing.</summary>
    Skip,

    /// <summary>The slot waits and starts when the running execution finishes; at most one waits.</summary>
    BufferOne,

    /// <summary>Executions run side by side.</summary>
    AllowAll,

    /// <summary>The running execution is cancelled and the slot starts a new one.</summary>
    CancelOther,
}

/// <summary>What a schedule does with the slots it missed while the platform was down.</summary>
public enum CatchUpPolicy
{
    Skip,
    RunOnce,
}

/// <summary>The names of the policies in the API and in the database (snake_case).</summary>
public static class PolicyNames
{
    public static string Of(OverlapPolicy policy) => policy switch
    {
        OverlapPolicy.Skip => "skip",
        OverlapPolicy.BufferOne => "buffer_one",
        OverlapPolicy.AllowAll => "allow_all",
        _ => "cancel_other",
    };

    public static string Of(CatchUpPolicy policy) => policy == CatchUpPolicy.Skip ? "skip" : "run_once";

    public static OverlapPolicy Overlap(string name, string field = "overlap") => name switch
    {
        "" or "skip" => OverlapPolicy.Skip,
        "buffer_one" => OverlapPolicy.BufferOne,
        "allow_all" => OverlapPolicy.AllowAll,
        "cancel_other" => OverlapPolicy.CancelOther,
        _ => throw new ValidationFailedException(field, $"'{name}' is not an overlap policy: skip, buffer_one, allow_all or cancel_other"),
    };

    public static CatchUpPolicy CatchUp(string name, string field = "catch_up") => name switch
    {
        "" or "skip" => CatchUpPolicy.Skip,
        "run_once" => CatchUpPolicy.RunOnce,
        _ => throw new ValidationFailedException(field, $"'{name}' is not a catch-up policy: skip or run_once"),
    };
}
