using System.Text;
using Platform.Runner.Executors;

namespace Platform.RunnerRegistry.Tests;

public sealed class OutputLineSplitterTests
{
    private sealed class Lines : IJobLogSink
    {
        public List<(JobOutputStream Stream, string Text)> Written { get; } = [];

        public void WriteLine(JobOutputStream stream, string text) => Written.Add((stream, text));
    }

    [Fact]
    public void A_partial_line_is_kept_until_more_arrives_or_the_stream_ends()
    {
        var sink = new Lines();
        var splitter = new OutputLineSplitter(JobOutputStream.Stderr, sink);
        var bytes = Encoding.UTF8.GetBytes("one\r\ntw\u00e9\n\nthr");

        splitter.Append(bytes.AsSpan(0, 6)); // "one\r\nt"
        splitter.Append(bytes.AsSpan(6, 2)); // "w" and half of "é"
        Assert.Equal(["one"], sink.Written.Select(w => w.Text));
        splitter.Append(bytes.AsSpan(8));
        Assert.Equal(["one", "tw\u00e9", ""], sink.Written.Select(w => w.Text));
        splitter.Complete();

        Assert.Equal(["one", "tw\u00e9", "", "thr"], sink.Written.Select(w => w.Text));
        Assert.All(sink.Written, w => Assert.Equal(JobOutputStream.Stderr, w.Stream));
    }

    [Fact]
    public void A_very_long_line_keeps_only_its_start()
    {
        var sink = new Lines();
        var splitter = new OutputLineSplitter(JobOutputStream.Stdout, sink);

        splitter.Append(Encoding.UTF8.GetBytes(new string('x', 100_000) + "\nnext\n"));

        Assert.Equal([OutputLineSplitter.MaxLineChars, 4], sink.Written.Select(w => w.Text.Length));
    }
}
