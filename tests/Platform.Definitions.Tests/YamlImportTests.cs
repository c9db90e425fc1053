using System.Text.Json;
using Platform.BuildingBlocks.Errors;
using Platform.Definitions.Domain;
using static Platform.Definitions.Tests.TestAgents;

namespace Platform.Definitions.Tests;

public class YamlImportTests
{
    [Fact]
    public void Malformed_yaml_is_reported_on_yaml_with_line_and_column()
    {
        var violation = Only("""
            name: w
            steps:
              - name: a
                agent: [builder
            """);

        Assert.Equal("yaml", violation.Field);
        Assert.Matches(@"^line \d+, column \d+: ", violation.Description);
    }

    [Fact]
    public void A_document_that_ends_inside_a_flow_sequence_is_reported_on_yaml()
    {
        var violation = Only("name: [unclosed\nsteps:\n  - name: x");

        Assert.Equal("yaml", violation.Field);
        Assert.Contains("not valid YAML", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_indentation_is_reported_on_yaml_with_its_line()
    {
        var violation = Only("name: w\nsteps:\n  - name: a\n agent: builder\n");

        Assert.Equal("yaml", violation.Field);
        Assert.StartsWith("line 4,", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_key_is_named_with_a_suggestion_and_its_position()
    {
        var violation = Only("""
            name: w
            steps:
              - name: a
                agnet: builder
            """);

        Assert.Equal("steps[0].agnet", violation.Field);
        Assert.Equal("unknown key 'agnet'; did you mean 'agent'? (line 4, column 5)", violation.Description);
    }

    [Fact]
    public void Unknown_top_level_and_trigger_keys_are_rejected()
    {
        var violations = ViolationsOf("""
            name: w
            stepz: []
            trigger: { type: webhook, sauce: x }
            """);

        Assert.Contains(violations, v => v.Field == "stepz" && v.Description.Contains("'steps'", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Field == "trigger.sauce");
    }

    [Fact]
    public void Duplicate_key_is_malformed_yaml()
    {
        var violation = Only("name: a\nname: b\nsteps: []\n");

        Assert.Equal("yaml", violation.Field);
        Assert.Equal("line 2, column 1: duplicate key 'name'", violation.Description);
    }

    [Fact]
    public void Several_documents_in_one_stream_are_rejected()
    {
        Assert.Equal("yaml", Only("name: a\n---\nname: b\n").Field);
    }

    [Fact]
    public void Empty_or_comment_only_document_is_rejected()
    {
        Assert.Equal("yaml", Only("").Field);
        Assert.Equal("yaml", Only("# nothing here\n").Field);
    }

    [Fact]
    public void Document_that_is_not_a_mapping_is_rejected()
    {
        Assert.Equal("yaml", Only("- just\n- a list\n").Field);
    }

    [Fact]
    public void Document_over_the_size_limit_is_rejected_before_parsing()
    {
        var yaml = "name: big\ndescription: " + new string('x', WorkflowLimits.MaxYamlBytes) + "\n";

        var violation = Only(yaml);

        Assert.Equal("yaml", violation.Field);
        Assert.Contains("at most", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Alias_bomb_is_rejected()
    {
        var lines = new List<string> { "a0: &a0 [x, x, x, x, x, x, x, x, x, x]" };
        for (var i = 1; i < 10; i++)
        {
            lines.Add($"a{i}: &a{i} [" + string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10)) + "]");
        }

        var violation = Only(string.Join('\n', lines));

        Assert.Equal("yaml", violation.Field);
        Assert.Contains("aliases", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Deep_nesting_is_rejected()
    {
        var yaml = "name: deep\nsteps:\n  - name: a\n    agent: builder\n    with: { x: " + new string('[', 200) + new string(']', 200) + " }\n";

        var violation = Only(yaml);

        Assert.Equal("yaml", violation.Field);
        Assert.Contains("nests deeper", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Aliases_within_limits_are_expanded()
    {
        var workflow = CompileYaml("""
            name: aliases
            steps:
              - { name: a, agent: builder, with: &common { region: eu, size: 2 } }
              - { name: b, agent: builder, with: *common }
            """);

        Assert.Equal(workflow.Dag.Steps[0].With!.Value.GetRawText(), workflow.Dag.Steps[1].With!.Value.GetRawText());
    }

    [Fact]
    public void Scalars_follow_the_yaml_1_2_core_schema()
    {
        var with = CompileYaml("""
            name: scalars
            steps:
              - name: a
                agent: builder
                with:
                  count: 3
                  ratio: 1.50
                  hex: 0x1F
                  on: yes
                  flag: true
                  nothing: ~
                  quoted: "3"
                  version: 1.2.3
                  country: NO
            """).Dag.Steps[0].With!.Value;

        Assert.Equal(JsonValueKind.Number, with.GetProperty("count").ValueKind);
        Assert.Equal("1.50", with.GetProperty("ratio").GetRawText());
        Assert.Equal(31, with.GetProperty("hex").GetInt32());
        Assert.Equal("yes", with.GetProperty("on").GetString());
        Assert.True(with.GetProperty("flag").GetBoolean());
        Assert.Equal(JsonValueKind.Null, with.GetProperty("nothing").ValueKind);
        Assert.Equal("3", with.GetProperty("quoted").GetString());
        Assert.Equal("1.2.3", with.GetProperty("version").GetString());
        Assert.Equal("NO", with.GetProperty("country").GetString());
    }

    [Fact]
    public void Numeric_step_names_are_taken_as_written()
    {
        var workflow = CompileYaml("""
            name: 2024
            steps:
              - { name: 1, agent: builder }
              - { name: 2, agent: builder, requires: [1] }
            """);

        Assert.Equal("2024", workflow.Document.Name);
        Assert.Equal(["1"], Dependencies(workflow)["2"]);
    }

    [Fact]
    public void Wrongly_typed_values_are_reported_by_path()
    {
        var violations = ViolationsOf("""
            name: w
            steps:
              - name: a
                agent: builder
                requires: a
                with: [1, 2]
              - name: [b]
                agent: builder
                requires: [{ x: 1 }]
            """);

        Assert.Equal(["steps[0].requires", "steps[0].with", "steps[1].name", "steps[1].requires[0]"],
            violations.Select(v => v.Field).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Steps_that_are_not_a_list_are_rejected()
    {
        Assert.Equal("steps", Only("name: w\nsteps: { a: 1 }\n").Field);
        Assert.Equal("steps[0]", Only("name: w\nsteps: [just-a-string]\n").Field);
    }

    [Fact]
    public void Null_requires_is_the_same_as_absent()
    {
        var workflow = CompileYaml("""
            name: w
            steps:
              - { name: a, agent: builder }
              - { name: b, agent: builder, requires: ~ }
            """);

        Assert.Equal(["a"], Dependencies(workflow)["b"]);
    }

    [Fact]
    public void Json_document_imports_like_yaml()
    {
        var workflow = CompileYaml("""
            {"name": "json", "steps": [{"name": "a", "agent": "builder"}, {"name": "b", "agent": "deployer", "requires": []}]}
            """);

        Assert.Empty(Dependencies(workflow)["b"]);
    }

    [Fact]
    public void Semantic_violations_of_imported_documents_carry_positions()
    {
        var parsed = WorkflowYaml.Parse("""
            name: w
            steps:
              - name: a
                agent: ghost
            """);

        var failure = Assert.Throws<ValidationFailedException>(() => Compile(parsed.Document));
        var annotated = parsed.Source.Annotate(failure);

        Assert.EndsWith("(line 4, column 5)", Assert.Single(annotated.Violations).Description, StringComparison.Ordinal);
    }
}
