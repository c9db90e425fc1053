using System.Text;

namespace Platform.Runner.Executors;

/// <summary>The last <see cref="Capacity"/> bytes of a job's combined stdout and stderr, in arrival order.</summary>
internal sealed class OutputTailBuffer(int capacity = OutputTailBuffer.DefaultCapacity)
{
    public const int DefaultCapacity = 8 * 1024;

    private readonly byte[] ring = new byte[capacity];
    private readonly Lock gate = new();
    private int head;   // where the next byte goes
    private int count;  // bytes kept (≤ capacity)
    private long total; // bytes ever appended

    public int Capacity => ring.Length;

    public void Append(ReadOnlySpan<byte> bytes)
    {
        lock (gate)
        {
            total += bytes.Length;
            if (bytes.Length >= ring.Length)
            {
                bytes[^ring.Length..].CopyTo(ring);
                head = 0;
                count = ring.Length;
                return;
            }

            var first = Math.Min(bytes.Length, ring.Length - head);
            bytes[..first].CopyTo(ring.AsSpan(head));
            bytes[first..].CopyTo(ring);
            head = (head + bytes.Length) % ring.Length;
            count = Math.Min(ring.Length, count + bytes.Length);
        }
    }

    /// <summary>The kept bytes as UTF-8, not starting in the middle of a character.</summary>
    public override string ToString()
    {
        byte[] tail;
        bool truncated;
        lock (gate)
        {
            tail = count < ring.Length ? ring[..count] : [.. ring[head..], .. ring[..head]];
            truncated = total > ring.Length;
        }

        var skip = 0;
        while (truncated && skip < tail.Length && skip < 3 && (tail[skip] & 0xC0) == 0x80)
        {
            skip++; // a continuation byte: its character began before the cut
        }

        return Encoding.UTF8.GetString(tail, skip, tail.Length - skip);
    }
}
