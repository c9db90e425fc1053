namespace Platform.BuildingBlocks.Errors;

/// <summary>One rejected field of a request: the field's path as the user wrote it, and what is wrong with it.</summary>
public sealed record FieldViolation(string Field, string Description);

/// <summary>The request is invalid; nothing was stored. Mapped to gRPC InvalidArgument (HTTP 400).</summary>
public sealed class ValidationFailedException(IReadOnlyList<FieldViolation> violations)
    : Exception(Describe(violations))
{
    public IReadOnlyList<FieldViolation> Violations { get; } = violations;

    public ValidationFailedException(string field, string description)
        : this([new FieldViolation(field, description)])
    {
    }

    private static string Describe(IReadOnlyList<FieldViolation> violations) =>
        violations.Count == 1
            ? $"{violations[0].Field}: {violations[0].Description}"
            : $"{violations.Count} invalid fields: " + string.Join("; ", violations.Select(v => $"{v.Field}: {v.Description}"));
}

/// <summary>The named resource does not exist. Mapped to gRPC NotFound (HTTP 404).</summary>
public sealed class NotFoundException(string resource, string id)
    : Exception($"{resource} '{id}' was not found")
{
    public string Resource { get; } = resource;
    public string Id { get; } = id;
}

/// <summary>The resource already exists. Mapped to gRPC AlreadyExists (HTTP 409).</summary>
public sealed class AlreadyExistsException(string message) : Exception(message);

/// <summary>The request is valid but the system is not in a state that allows it. Mapped to FailedPrecondition.</summary>
public sealed class PreconditionFailedException(string message) : Exception(message);

/// <summary>The caller is not who it says it is (bad runner credential). Mapped to Unauthenticated.</summary>
public sealed class UnauthenticatedException(string message) : Exception(message);

/// <summary>The caller may not do this (a runner reporting on a job it does not hold). Mapped to PermissionDenied.</summary>
public sealed class PermissionDeniedException(string message) : Exception(message);

/// <summary>A service this one needs (a Temporal server, say) cannot be reached; retrying later may work. Mapped to
/// Unavailable (HTTP 503).</summary>
public sealed class DependencyUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
