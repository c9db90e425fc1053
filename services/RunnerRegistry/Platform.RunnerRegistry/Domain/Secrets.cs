using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Platform.RunnerRegistry.Domain;

/// <summary>Registration tokens and runner credentials: 256 random bits, URL-safe; only their SHA-256 is stored.</summary>
public static class Secrets
{
    public const string RegistrationTokenPrefix = "prt_";
    public const string CredentialPrefix = "prc_";

    public static string NewRegistrationToken() => RegistrationTokenPrefix + Random();

    public static string NewCredential() => CredentialPrefix + Random();

    public static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    private static string Random() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
}
