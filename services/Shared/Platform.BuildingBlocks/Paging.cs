using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Platform.BuildingBlocks.Errors;

namespace Platform.BuildingBlocks;

/// <summary>Page size and opaque page tokens for every List call (Google API design guide).</summary>
public static class Paging
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 500;

    public static int Size(int requested) => requested switch
    {
        < 0 => throw new ValidationFailedException("page_size", "must not be negative"),
        0 => DefaultPageSize,
        > MaxPageSize => MaxPageSize,
        _ => requested,
    };

    /// <summary>The token names the offset of the next page; it is opaque to clients.</summary>
    public static string NextToken(int offset, int pageSize, int returned) =>
        returned < pageSize ? "" : Base64Url.EncodeToString(Encoding.UTF8.GetBytes(
            (offset + returned).ToString(CultureInfo.InvariantCulture)));

    public static int Offset(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return 0;
        }

        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
            {
                return offset;
            }
        }
        catch (FormatException)
        {
        }

        throw new ValidationFailedException("page_token", "is not a token this API returned");
    }
}

/// <summary>Resource ids are UUIDs; a malformed id names nothing, so it is a NotFound, not a server error.</summary>
public static class Ids
{
    public static Guid Parse(string? value, string resource) =>
        Guid.TryParse(value, out var id) ? id : throw new NotFoundException(resource, value ?? "");
}
