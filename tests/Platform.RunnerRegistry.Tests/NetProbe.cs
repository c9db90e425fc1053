using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Tracing;

namespace Platform.RunnerRegistry.Tests;

public sealed class NetProbe : EventListener
{
    public static readonly ConcurrentQueue<string> Lines = new();
    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name is "System.Net.Http" or "System.Net.Sockets" or "Microsoft-AspNetCore-Server-Kestrel" or "System.Runtime" or "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, source.Name == "Microsoft-Windows-DotNETRuntime" ? EventLevel.Informational : EventLevel.Verbose,
                source.Name == "Microsoft-Windows-DotNETRuntime" ? (EventKeywords)0x1 : EventKeywords.All);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is "EventCounters") return;
        Lines.Enqueue($"{Clock.Elapsed.TotalMilliseconds:0.0} {e.EventSource.Name}/{e.EventName} {string.Join(",", e.Payload ?? [])}");
    }
}
