using Platform.Definitions.Domain;

namespace Platform.Definitions.Tests;

public class DurationTests
{
    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("30s", 30_000)]
    [InlineData("5m", 300_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("2m30s", 150_000)]
    [InlineData("1h0m5s250ms", 3_605_250)]
    [InlineData("90m", 5_400_000)]
    [InlineData("1ms", 1)]
    [InlineData("168h", 604_800_000)]
    public void Durations_are_numbers_with_units(string text, long milliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), Durations.Parse(text, out var error));
        Assert.Equal("", error);
        Assert.Equal(milliseconds, Durations.Milliseconds(text));
    }

    [Theory]
    [InlineData("30", "'30' has no unit; write a duration like 500ms, 30s, 5m, 1h or 1h30m")]
    [InlineData("1.5h", "'1.5h' is not a duration like 500ms, 30s, 5m, 1h or 1h30m")]
    [InlineData("30 s", "'30 s' is not a duration like 500ms, 30s, 5m, 1h or 1h30m")]
    [InlineData("30S", "'30S' is not a duration like 500ms, 30s, 5m, 1h or 1h30m")]
    [InlineData("30m1h", "'30m1h' is not a duration like 500ms, 30s, 5m, 1h or 1h30m")]
    [InlineData("1h1h", "'1h1h' is not a duration like 500ms, 30s, 5m, 1h or 1h30m")]
    [InlineData("-5s", "'-5s' is not a duration like 500ms, 30s, 5m, 1h or 1h30m")]
    [InlineData("1d", "'1d' is not a duration like 500ms, 30s, 5m, 1h or 1h30m")]
    [InlineData("PT5M", "'PT5M' is not a duration like 500ms, 30s, 5m, 1h or 1h30m")]
    [InlineData("h", "'h' is not a duration like 500ms, 30s, 5m, 1h or 1h30m")]
    [InlineData("0s", "must be more than 0")]
    [InlineData("0h0m", "must be more than 0")]
    [InlineData("168h1ms", "'168h1ms' is longer than the limit of 7 days (168h)")]
    [InlineData("999999999h", "'999999999h' is longer than the limit of 7 days (168h)")]
    [InlineData("1234567890s", "'1234567890s' is not a duration like 500ms, 30s, 5m, 1h or 1h30m")]
    public void Other_text_is_not_a_duration(string text, string message)
    {
        Assert.Null(Durations.Parse(text, out var error));
        Assert.Equal(message, error);
    }

    [Fact]
    public void Empty_is_no_duration()
    {
        Assert.Equal(0, Durations.Milliseconds(""));
        Assert.Null(Durations.Parse("", out _));
    }
}
