using Platform.RunnerRegistry.Domain;

namespace Platform.RunnerRegistry.Tests;

public class QueueReasonTests
{
    [Fact]
    public void A_job_no_online_runner_matches_names_its_labels() =>
        Assert.Equal("no online runner with labels [gpu, linux]", QueueReasons.Explain(["gpu", "linux"], 0, 0));

    [Fact]
    public void A_job_whose_matching_runners_are_all_busy_says_so()
    {
        Assert.Equal("all 2 matching runners are busy", QueueReasons.Explain(["linux"], 2, 0));
        Assert.Equal("all 1 matching runner is busy", QueueReasons.Explain([], 1, 0));
    }

    [Fact]
    public void A_job_a_runner_can_take_now_has_no_reason() =>
        Assert.Null(QueueReasons.Explain(["linux"], 3, 1));
}
