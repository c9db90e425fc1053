using System.Text.Json;
using static Platform.Workflow.Expressions.Tests.Contexts;

namespace Platform.Workflow.Expressions.Tests;

public class ValueTests
{
    [Fact]
    public void Text_of_each_kind()
    {
        Assert.Equal("", ExpressionValue.Null.ToText());
        Assert.Equal("true", ExpressionValue.True.ToText());
        Assert.Equal("false", ExpressionValue.False.ToText());
        Assert.Equal("3", ExpressionValue.FromNumber(3).ToText());
        Assert.Equal("1.5", ExpressionValue.FromNumber(1.5).ToText());
        Assert.Equal("-0.001", ExpressionValue.FromNumber(-0.001).ToText());
        Assert.Equal("abc", ExpressionValue.FromString("abc").ToText());
        Assert.Equal("""{"a":[1,"x"]}""", ExpressionValue.FromJson(Json("""{ "a": [1, "x"] }""")).ToText());
    }

    [Fact]
    public void Json_numbers_keep_the_text_they_were_written_with()
    {
        var big = ExpressionValue.FromJson(Json("12345678901234567890"));

        Assert.Equal("12345678901234567890", big.ToText());
        Assert.Equal("12345678901234567890", big.ToJsonElement().GetRawText());
        Assert.Equal("1.50", ExpressionValue.FromJson(Json("1.50")).ToText());
        Assert.True(ExpressionValue.LooseEquals(ExpressionValue.FromJson(Json("1.50")), ExpressionValue.FromNumber(1.5)));
    }

    [Fact]
    public void To_json_element_keeps_the_kind()
    {
        Assert.Equal(JsonValueKind.Null, ExpressionValue.Null.ToJsonElement().ValueKind);
        Assert.Equal(JsonValueKind.True, ExpressionValue.True.ToJsonElement().ValueKind);
        Assert.Equal(3, ExpressionValue.FromNumber(3).ToJsonElement().GetInt32());
        Assert.Equal("x", ExpressionValue.FromString("x").ToJsonElement().GetString());
        Assert.Equal(2, ExpressionValue.FromJson(Json("[1, 2]")).ToJsonElement().GetArrayLength());
    }

    [Fact]
    public void From_json_maps_each_kind()
    {
        Assert.Equal(ExpressionValue.Null, ExpressionValue.FromJson(default));
        Assert.Equal(ExpressionValue.Null, ExpressionValue.FromJson(Json("null")));
        Assert.Equal(ExpressionValue.True, ExpressionValue.FromJson(Json("true")));
        Assert.Equal(ExpressionValue.FromString("s"), ExpressionValue.FromJson(Json("\"s\"")));
        Assert.Equal(ExpressionValueKind.Array, ExpressionValue.FromJson(Json("[]")).Kind);
        Assert.Equal(ExpressionValueKind.Object, ExpressionValue.FromJson(Json("{}")).Kind);
        Assert.Equal(ExpressionValue.Null, ExpressionValue.FromString(null));
    }

    [Fact]
    public void Strict_equality_is_by_kind_and_value()
    {
        Assert.Equal(ExpressionValue.FromNumber(3), ExpressionValue.FromJson(Json("3.0")));
        Assert.NotEqual(ExpressionValue.FromNumber(3), ExpressionValue.FromString("3"));
        Assert.Equal(ExpressionValue.FromNumber(3).GetHashCode(), ExpressionValue.FromJson(Json("3")).GetHashCode());
        Assert.Equal(ExpressionValue.FromJson(Json("""{"a": 1}""")), ExpressionValue.FromJson(Json("""{ "a" : 1 }""")));
    }

    [Fact]
    public void Numbers_must_be_finite()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ExpressionValue.FromNumber(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => ExpressionValue.FromNumber(double.PositiveInfinity));
    }

    [Fact]
    public void Accessors_check_the_kind()
    {
        Assert.True(ExpressionValue.True.AsBoolean());
        Assert.Equal(2, ExpressionValue.FromNumber(2).AsNumber());
        Assert.Equal("s", ExpressionValue.FromString("s").AsString());
        Assert.Throws<InvalidOperationException>(() => ExpressionValue.Null.AsString());
        Assert.Throws<InvalidOperationException>(() => ExpressionValue.FromString("1").AsNumber());
        Assert.Throws<InvalidOperationException>(() => ExpressionValue.True.AsJson());
    }

    [Theory]
    [InlineData("null", 0)]
    [InlineData("true", 1)]
    [InlineData("false", 0)]
    [InlineData("'  '", 0)]
    [InlineData("'42'", 42)]
    [InlineData("'-1.5e2'", -150)]
    [InlineData("'0xff'", 255)]
    public void To_number_coerces_like_github(string literal, double expected)
    {
        Assert.Equal(expected, Eval(literal).ToNumber());
    }

    [Fact]
    public void Non_numeric_strings_objects_and_arrays_are_nan()
    {
        Assert.True(double.IsNaN(ExpressionValue.FromString("abc").ToNumber()));
        Assert.True(double.IsNaN(ExpressionValue.FromJson(Json("[]")).ToNumber()));
    }

    [Fact]
    public void To_string_shows_literals_as_they_are_written()
    {
        Assert.Equal("'it''s'", ExpressionValue.FromString("it's").ToString());
        Assert.Equal("null", ExpressionValue.Null.ToString());
        Assert.Equal("2", ExpressionValue.FromNumber(2).ToString());
    }
}
