using System.Security.Cryptography;
using System.Text;

namespace Platform.BuildingBlocks;

/// <summary>
/// Name-based UUIDs (RFC 9562 version 5): the same parts always give the same id. Used for job ids and message ids,
/// so that a command or event produced twice (after a crash, by a redelivery) is recognised as the same one.
/// </summary>
public static class DeterministicGuid
{
    private static readonly Guid PlatformNamespace = new("6f1c9a54-3a8e-4f5e-9d0b-2b7d3c1e8a10");

    public static Guid Create(params ReadOnlySpan<string> parts)
    {
        var builder = new StringBuilder();
        foreach (var part in parts)
        {
            // Length-prefixed so that ("ab","c") and ("a","bc") differ.
            builder.Append(part.Length).Append(':').Append(part).Append('|');
        }

        Span<byte> namespaceBytes = stackalloc byte[16];
        PlatformNamespace.TryWriteBytes(namespaceBytes, bigEndian: true, out _);
        var name = Encoding.UTF8.GetBytes(builder.ToString());
        var input = new byte[16 + name.Length];
        namespaceBytes.CopyTo(input);
        name.CopyTo(input.AsSpan(16));
        Span<byte> hash = stackalloc byte[20];
#pragma warning disable CA5350 // SHA-1 is what RFC 9562 prescribes for version 5 ids; no security depends on it.
        SHA1.HashData(input, hash);
#pragma warning restore CA5350
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }
}
