using Platform.BuildingBlocks.Errors;

namespace Platform.Definitions.Domain;

public static class Teams
{
    public const string Default = "default";

    /// <summary>The team named by the request, or by the document, or the default team; a disagreement is an error.</summary>
    public static string Choose(string? requestTeam, string? documentTeam)
    {
        var fromRequest = string.IsNullOrWhiteSpace(requestTeam) ? null : requestTeam;
        var fromDocument = string.IsNullOrWhiteSpace(documentTeam) ? null : documentTeam;
        if (fromRequest is not null && fromDocument is not null && fromRequest != fromDocument)
        {
            throw new ValidationFailedException("team_id",
                $"the request names team '{fromRequest}' but the document names team '{fromDocument}'");
        }

        var team = fromRequest ?? fromDocument ?? Default;
        if (team.Length > WorkflowLimits.MaxNameLength)
        {
            throw new ValidationFailedException("team_id", $"must be at most {WorkflowLimits.MaxNameLength} characters");
        }

        return team;
    }

    public static string OrDefault(string? team) => Choose(team, null);
}
