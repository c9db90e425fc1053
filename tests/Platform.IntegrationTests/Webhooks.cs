using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.IntegrationTests;

/// <summary>A webhook sender as a user's system is one: signs the raw body and POSTs it to the trigger's URL.</summary>
internal static class Webhooks
{
    public static string Hmac(string secret, string body) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(body)));

    /// <returns>the HTTP status and the JSON answer.</returns>
    public static async Task<(int Status, JsonObject Answer)> PostAsync(HttpClient http, string url, string body,
        params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, string.IsNullOrWhiteSpace(text) ? new JsonObject() : JsonNode.Parse(text)!.AsObject());
    }

    public static Task<(int Status, JsonObject Answer)> PostSignedAsync(HttpClient http, JsonObject trigger, string body, string? deliveryId = null)
    {
        var headers = new List<(string, string)> { ("X-Webhook-Signature", Hmac((string)trigger["secret"]!, body)) };
        if (deliveryId is not null)
        {
            headers.Add(("X-Webhook-Id", deliveryId));
        }

        return PostAsync(http, (string)trigger["url"]!, body, [.. headers]);
    }

    /// <summary>Waits until Triggers has answered for the delivery (its outcome is no longer pending).</summary>
    public static async Task<JsonObject> WaitProcessedAsync(StandalonePlatform platform, string triggerId, string deliveryId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonObject delivery;
        do
        {
            delivery = await platform.GetAsync($"/api/v1/triggers/{triggerId}/deliveries/{deliveryId}");
            if ((string?)delivery["outcome"] is not (null or "pending"))
            {
                return delivery;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"delivery {deliveryId} was not processed within {timeout}: {delivery}\n{platform.Output}");
    }

    public static async Task<List<JsonObject>> ExecutionsOfAsync(StandalonePlatform platform, string workflowId) =>
        (await platform.GetAsync($"/api/v1/executions?workflow_id={workflowId}&page_size=500"))["executions"]!.AsArray()
            .Select(e => e!.AsObject()).ToList();
}
