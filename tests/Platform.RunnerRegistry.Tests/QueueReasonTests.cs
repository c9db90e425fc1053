using Platform.RunnerRegistry.Domain;

namespace Platform.RunnerRegistry.Tests;

public class QueueReasonTests
{
    private static readonly string[] Process = [Executors.Process];
    private static readonly string[] Containers = [Executors.Docker, Executors.Kubernetes];

    [Fact]
    public void A_job_no_online_runner_matches_names_its_labels() =>
        Assert.Equal("no online runner with labels [gpu, linux]", QueueReasons.Explain(["gpu", "linux"], Process, 0, 0, 0));

    [Fact]
    public void A_container_job_no_online_runner_matches_names_its_executor_kinds()
    {
        Assert.Equal("no online runner with labels [linux] and executor docker or kubernetes",
            QueueReasons.Explain(["linux"], Containers, 0, 0, 0));
        Assert.Equal("no online runner with executor docker or kubernetes", QueueReasons.Explain([], Containers, 0, 0, 0));
    }

    [Fact]
    public void A_job_whose_labelled_runners_have_other_executors_says_which_kind_it_needs() =>
        Assert.Equal("no online runner with labels [linux] has executor docker (2 online runners have other executors)",
            QueueReasons.Explain(["linux"], [Executors.Docker], 2, 0, 0));

    [Fact]
    public void A_job_whose_matching_runners_are_all_busy_says_so()
    {
        Assert.Equal("all 2 matching runners are busy", QueueReasons.Explain(["linux"], Process, 2, 2, 0));
        Assert.Equal("all 1 matching runner is busy", QueueReasons.Explain([], Process, 1, 1, 0));
    }

    [Fact]
    public void A_job_a_runner_can_take_now_has_no_reason() =>
        Assert.Null(QueueReasons.Explain(["linux"], Process, 3, 3, 1));
}
