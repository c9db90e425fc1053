using System.Text.Json;

namespace Platform.Workflow.Expressions.Tests;

internal static class Contexts
{
    public static JsonElement Json(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    /// <summary>Inputs as JSON; steps: "build" succeeded with outputs, "Run Tests" failed, "lint" skipped.</summary>
    public static ExpressionContext Sample(string inputs = """
        {"env": "prod", "replicas": 3, "ratio": 1.50, "big": 12345678901234567890, "deploy": true, "empty": "",
         "zero": 0, "nothing": null, "config": {"region": "eu-west-1", "tags": ["a", "b"]}, "list": [10, 20, 30],
         "key with space": "spaced", "Env": "PROD"}
        """) =>
        new(Json(inputs), new Dictionary<string, StepResult>
        {
            ["build"] = StepResult.Of("succeeded", new Dictionary<string, string> { ["tag"] = "v1.2.3", ["count"] = "3", ["image-name"] = "app" }),
            ["Run Tests"] = StepResult.Of("failed", new Dictionary<string, string> { ["passed"] = "false" }),
            ["lint"] = StepResult.Of("skipped"),
            ["build-image"] = StepResult.Of("succeeded", new Dictionary<string, string> { ["digest"] = "sha256:1" }),
        });

    public static ExpressionValue Eval(string expression) => Expression.Parse(expression).Evaluate(Sample());

    public static bool Condition(string condition) => Expression.ParseCondition(condition).EvaluateCondition(Sample());

    public static ExpressionException ParseError(string expression) =>
        Assert.Throws<ExpressionException>(() => Expression.Parse(expression));
}
