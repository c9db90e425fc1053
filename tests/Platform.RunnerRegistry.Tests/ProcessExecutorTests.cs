using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Runner;
using Platform.Runner.Executors;

namespace Platform.RunnerRegistry.Tests;

public sealed class ProcessExecutorTests : IDisposable
{
    private readonly string scratch = Directory.CreateTempSubdirectory("platform-executor-test-").FullName;
    private readonly ProcessExecutor executor;

    public ProcessExecutorTests()
    {
        executor = new ProcessExecutor(new RunnerOptions
        {
            Url = new Uri("http://127.0.0.1:1"), Token = "unused", WorkDirectory = Path.Combine(scratch, "work"),
        }, NullLogger<ProcessExecutor>.Instance);
    }

    public void Dispose()
    {
        // The executor removes job directories in the background: one may still be going while this one is removed.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                Directory.Delete(scratch, recursive: true);
                return;
            }
            catch (IOException) when (attempt < 100)
            {
                Thread.Sleep(20);
            }
        }
    }

    private static RunnerJob Job(string script, Dictionary<string, string>? env = null, string input = """{"n":1}""") =>
        new(Guid.NewGuid(), 1, Guid.NewGuid(), "build", 1, ["sh", "-c", script], "", env ?? [], input);

    [Fact]
    public async Task Lines_of_the_outputs_file_become_outputs_and_blank_or_malformed_lines_are_ignored()
    {
        var result = await executor.RunAsync(Job("""printf 'a=1\n\nno equals sign\nb=x=y\n c =2\r\n=nokey\n' >> "$PLATFORM_OUTPUTS" """),
            CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(new Dictionary<string, string> { ["a"] = "1", ["b"] = "x=y", ["c"] = "2" }, result.Outputs);
    }

    [Fact]
    public async Task The_exit_code_of_the_command_is_reported()
    {
        var result = await executor.RunAsync(Job("exit 7"), CancellationToken.None);

        Assert.Equal(7, result.ExitCode);
        Assert.Equal("", result.Error);
    }

    [Fact]
    public async Task The_job_sees_its_input_ids_and_agent_env_but_not_the_runner_variables_outside_the_allow_list()
    {
        Environment.SetEnvironmentVariable("PLATFORM_TEST_RUNNER_SECRET", "s3cret");
        var job = Job("""
            {
              echo "secret=${PLATFORM_TEST_RUNNER_SECRET:-absent}"
              echo "path=${PATH:+present}"
              echo "mode=$MODE"
              echo "input=$PLATFORM_INPUT"
              echo "execution=$PLATFORM_EXECUTION_ID"
              echo "step=$PLATFORM_STEP"
              echo "job=$PLATFORM_JOB_ID"
            } >> "$PLATFORM_OUTPUTS"
            """, new() { ["MODE"] = "fast" });

        var result = await executor.RunAsync(job, CancellationToken.None);

        Assert.Equal("absent", result.Outputs["secret"]);
        Assert.Equal("present", result.Outputs["path"]);
        Assert.Equal("fast", result.Outputs["mode"]);
        Assert.Equal("""{"n":1}""", result.Outputs["input"]);
        Assert.Equal(job.ExecutionId.ToString(), result.Outputs["execution"]);
        Assert.Equal("build", result.Outputs["step"]);
        Assert.Equal(job.JobId.ToString(), result.Outputs["job"]);
    }

    [Fact]
    public async Task The_output_tail_keeps_the_last_8_KiB_of_stdout_and_stderr()
    {
        var result = await executor.RunAsync(Job("""
            i=0; while [ $i -lt 400 ]; do echo "line $i of some output that is long enough"; i=$((i+1)); done
            sleep 0.2
            echo "to stderr" >&2
            sleep 0.2
            echo "THE END"
            """), CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
        Assert.True(Encoding.UTF8.GetByteCount(result.OutputTail) <= 8 * 1024);
        Assert.True(Encoding.UTF8.GetByteCount(result.OutputTail) > 8 * 1024 - 100);
        // Both streams land in the tail. They are read concurrently, so the pauses let stdout's lines be read before the
        // stderr line is written (otherwise a late read of 18 KB of earlier stdout can push it out of the tail).
        Assert.Contains("to stderr\n", result.OutputTail, StringComparison.Ordinal);
        Assert.EndsWith("THE END\n", result.OutputTail, StringComparison.Ordinal);
        Assert.DoesNotContain("line 0 of", result.OutputTail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_command_that_cannot_start_fails_with_exit_code_127_and_says_why()
    {
        var job = Job("") with { Command = ["platform-no-such-command", "--flag"] };

        var result = await executor.RunAsync(job, CancellationToken.None);

        Assert.Equal(127, result.ExitCode);
        Assert.StartsWith("cannot start 'platform-no-such-command': ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_a_job_kills_its_whole_process_tree()
    {
        var pidFile = Path.Combine(scratch, "child.pid");
        var job = Job("""sleep 300 & echo $! > "$PID_FILE"; wait""", new() { ["PID_FILE"] = pidFile });
        using var stop = new CancellationTokenSource();

        var run = executor.RunAsync(job, stop.Token);
        while (!File.Exists(pidFile) || (await File.ReadAllTextAsync(pidFile)).Trim().Length == 0)
        {
            await Task.Delay(20);
        }

        var child = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), CultureInfo.InvariantCulture);
        Assert.True(IsAlive(child));
        var clock = Stopwatch.StartNew();
        await stop.CancelAsync();
        var result = await run.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Equal("the job was stopped", result.Error);
        Assert.NotEqual(0, result.ExitCode);
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (IsAlive(child) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.False(IsAlive(child), "the job's child process survived");
    }

    [Fact]
    public async Task The_job_directory_is_removed_once_the_job_has_ended()
    {
        var result = await executor.RunAsync(Job("""echo "dir=$PWD" >> "$PLATFORM_OUTPUTS"; mkdir sub; echo x > sub/file"""),
            CancellationToken.None);

        // Removed in the background, off the job's path: within moments, not necessarily by the time the result is back.
        var directory = result.Outputs["dir"];
        Assert.StartsWith(Path.Combine(scratch, "work"), directory, StringComparison.Ordinal);
        var deadline = Stopwatch.StartNew();
        while (Directory.Exists(directory) && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(10);
        }

        Assert.False(Directory.Exists(directory), "the job directory is still there 5 s after the job ended");
    }

    private static bool IsAlive(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        try
        {
            // A zombie (state Z) has exited; it only waits for its parent to reap it.
            var text = File.ReadAllText(stat);
            return text[(text.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
