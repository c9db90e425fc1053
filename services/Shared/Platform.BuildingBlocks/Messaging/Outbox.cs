using System.Collections.Concurrent;
using System.Data;
using System.Text.Json;
using Dapper;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.BuildingBlocks.Persistence;

namespace Platform.BuildingBlocks.Messaging;

/// <summary>
/// The transactional outbox of one context: an event is inserted in the same transaction as the state change that
/// causes it and relayed to the bus afterwards, so a crash can delay an event but never lose or invent one.
/// Each context's migrations create <c>{schema}.outbox</c> (see <see cref="OutboxSql"/>).
/// </summary>
public sealed class Outbox(string schema)
{
    public string Schema { get; } = schema;
    public string Channel { get; } = schema + "_outbox";

    /// <summary>The <c>message_type</c> and <c>payload</c> of a message's outbox row, for a caller that writes the row
    /// within a statement of its own (the webhook ingress records a delivery and its event in one round trip).</summary>
    public static (string MessageType, string Payload) Serialize<T>(T message) where T : class =>
        (MessageTypes.NameOf(typeof(T)), JsonSerializer.Serialize(message, MessageTypes.Json));

    /// <summary>The <c>message_type</c> of <typeparamref name="T"/>'s outbox rows, for a caller that writes many rows
    /// of one type in one statement.</summary>
    public static string MessageTypeOf<T>() where T : class => MessageTypes.NameOf(typeof(T));

    /// <summary>Records <paramref name="message"/> for publishing; <paramref name="messageId"/> is deterministic so
    /// consumers can deduplicate a message that is relayed twice.</summary>
    /// <param name="notify">false: no NOTIFY wakes the relays; the caller wakes this process's relay after the commit
    /// (<see cref="WakeLocalRelay"/>). For hot paths: PostgreSQL commits notifying transactions one at a time.</param>
    public async Task AddAsync<T>(IDbConnection connection, IDbTransaction transaction, Guid messageId, T message,
        bool notify = true)
        where T : class
    {
        var sql = $"""
            INSERT INTO {Schema}.outbox (message_id, message_type, payload)
            VALUES (@messageId, @messageType, @payload::jsonb)
            ON CONFLICT (message_id) DO NOTHING;
            {(notify ? $"SELECT pg_notify('{Channel}', '');" : "")}
            """;
        var (messageType, payload) = Serialize(message);
        await connection.ExecuteAsync(sql, new { messageId, messageType, payload }, transaction);
    }

    /// <summary>The statement that records <paramref name="message"/> for publishing (without a NOTIFY: the caller wakes
    /// the relay after its commit), for a caller that sends it in one batch with its other writes.</summary>
    public NpgsqlBatchCommand AddCommand<T>(Guid messageId, T message) where T : class
    {
        var (messageType, payload) = Serialize(message);
        return new NpgsqlBatchCommand($"""
            INSERT INTO {Schema}.outbox (message_id, message_type, payload) VALUES ($1, $2, $3::jsonb)
            ON CONFLICT (message_id) DO NOTHING
            """)
        {
            Parameters = { new() { Value = messageId }, new() { Value = messageType }, new() { Value = payload } },
        };
    }

    /// <summary>Wakes the relay of this outbox in this process (after a commit that did not NOTIFY).</summary>
    public void WakeLocalRelay(PgNotificationHub notifications) => notifications.Channel(Channel).Pulse();
}

public static class OutboxSql
{
    /// <summary>The DDL each context's first migration carries for its outbox and inbox (kept here for reference).</summary>
    public const string Reference = """
        CREATE TABLE outbox (id bigserial PRIMARY KEY, message_id uuid NOT NULL UNIQUE, message_type text NOT NULL,
                             payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp());
        CREATE TABLE inbox (message_id uuid NOT NULL, consumer text NOT NULL,
                            processed_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (message_id, consumer));
        """;
}

internal static class MessageTypes
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly ConcurrentDictionary<string, Type> Resolved = new(StringComparer.Ordinal);

    public static string NameOf(Type type) => $"{type.FullName}, {type.Assembly.GetName().Name}";

    public static Type Resolve(string name) =>
        Resolved.GetOrAdd(name, n => Type.GetType(n, throwOnError: true)!);
}

/// <summary>
/// Publishes a message its writer has just committed to the outbox without a NOTIFY (<see cref="Outbox.AddAsync"/>
/// with <c>notify: false</c>) at once, its row deleted soon after: the relay's round trips stay off the path of a
/// message that is waited for (a job's end, which the next step waits on). Publishing twice is harmless (consumers keep an inbox); a failure leaves the
/// row to the relay, woken at once; a crash before it leaves it to the relay when it starts (or to another replica's
/// safety-net pass).
/// </summary>
public sealed class OutboxPublisher : IAsyncDisposable
{
    private readonly Outbox outbox;
    private readonly NpgsqlDataSource dataSource;
    private readonly PgNotificationHub notifications;
    private readonly IBus bus;
    private readonly ILogger<OutboxPublisher> logger;

    // The rows of published messages are deleted by group commit: those published while a deletion is in flight
    // go in the next one.
    private readonly GroupCommit<Guid, bool> forgotten;

    public OutboxPublisher(Outbox outbox, NpgsqlDataSource dataSource, PgNotificationHub notifications, IBus bus,
        ILogger<OutboxPublisher> logger)
    {
        (this.outbox, this.dataSource, this.notifications, this.bus, this.logger) = (outbox, dataSource, notifications, bus, logger);
        forgotten = new GroupCommit<Guid, bool>(ForgetAsync, maxItems: 1000);
    }

    /// <summary>
    /// Publishes the message whose row the caller just committed, and returns once it is published: the row is
    /// deleted later, with the rows of the messages published meanwhile, in one statement whose commit does not wait
    /// for its WAL flush (a deletion per message carried a flushed commit on the path of the caller's answer). Losing
    /// that deletion to a crash only makes the relay publish the message again, which consumers tolerate (their inbox).
    /// </summary>
    public async Task PublishAsync<T>(Guid messageId, T message)
        where T : class
    {
        try
        {
            await bus.Publish(message, context => context.MessageId = messageId);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Publishing {MessageType} {MessageId} right after its commit failed; the {Schema} outbox relay retries",
                typeof(T).Name, messageId, outbox.Schema);
            RelayNow();
            return;
        }

        Delivered(messageId);
    }

    /// <summary>The message whose row the caller just committed reached its consumer another way (in process): its row
    /// is deleted as a published message's is.</summary>
    public void Delivered(Guid messageId) => _ = forgotten.AddAsync(messageId); // never fails: ForgetAsync answers every batch

    /// <summary>Leaves the messages whose rows the caller committed to the relay, woken now.</summary>
    public void RelayNow() => notifications.Channel(outbox.Channel).Pulse();

    private async Task<bool[]> ForgetAsync(IReadOnlyList<Guid> ids)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await connection.ExecuteAsync($"""
                SET LOCAL synchronous_commit = off;
                DELETE FROM {outbox.Schema}.outbox WHERE message_id = ANY(@ids);
                """, new { ids = ids.ToArray() }, transaction);
            await transaction.CommitAsync();
            return [.. ids.Select(_ => true)];
        }
        catch (Exception e)
        {
            // The rows stay: the relay publishes them again when it next runs (consumers deduplicate).
            logger.LogWarning(e, "Deleting {Count} published {Schema} outbox rows failed; the relay will publish them again",
                ids.Count, outbox.Schema);
            return [.. ids.Select(_ => false)];
        }
    }

    public ValueTask DisposeAsync() => forgotten.DisposeAsync();
}

/// <summary>Relays one context's outbox to the bus: woken by NOTIFY, at-least-once, publisher-confirmed.</summary>
internal sealed class OutboxRelay(
    Outbox outbox, NpgsqlDataSource dataSource, PgNotificationHub notifications, IBus bus, ILogger<OutboxRelay> logger)
    : SignalledBatchWorker(notifications, outbox.Channel, logger)
{
    protected override int BatchSize => 200;

    protected override async Task<int> ProcessBatchAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<OutboxRow>($"""
            SELECT id AS Id, message_id AS MessageId, message_type AS MessageType, payload::text AS Payload
            FROM {outbox.Schema}.outbox ORDER BY id LIMIT {BatchSize} FOR UPDATE SKIP LOCKED
            """, transaction: transaction)).AsList();
        if (rows.Count == 0)
        {
            return 0;
        }

        foreach (var row in rows)
        {
            var type = MessageTypes.Resolve(row.MessageType);
            var message = JsonSerializer.Deserialize(row.Payload, type, MessageTypes.Json)!;
            await bus.Publish(message, type, context => context.MessageId = row.MessageId, cancellationToken);
        }

        await connection.ExecuteAsync($"DELETE FROM {outbox.Schema}.outbox WHERE id = ANY(@ids)",
            new { ids = rows.Select(r => r.Id).ToArray() }, transaction);
        await transaction.CommitAsync(cancellationToken);
        return rows.Count;
    }

    private sealed record OutboxRow(long Id, Guid MessageId, string MessageType, string Payload);
}

/// <summary>The inbox: a consumer records the message id in its own transaction; a redelivery is then a no-op.</summary>
public static class Inbox
{
    /// <returns>false when this consumer has already processed the message.</returns>
    public static async Task<bool> TryRecordAsync(IDbConnection connection, IDbTransaction transaction, string schema,
        Guid messageId, string consumer)
    {
        var inserted = await connection.ExecuteAsync(
            $"INSERT INTO {schema}.inbox (message_id, consumer) VALUES (@messageId, @consumer) ON CONFLICT DO NOTHING",
            new { messageId, consumer }, transaction);
        return inserted == 1;
    }
}

/// <summary>
/// Forgets processed message ids after a retention period (Messaging:InboxRetentionDays, default 7): a redelivery
/// comes within minutes, so the inbox need not grow with every message ever consumed.
/// </summary>
internal sealed class InboxJanitor(string schema, NpgsqlDataSource dataSource, IConfiguration configuration,
    ILogger<InboxJanitor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var retention = TimeSpan.FromDays(configuration.GetValue("Messaging:InboxRetentionDays", 7.0));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                var forgotten = await connection.ExecuteAsync(
                    $"DELETE FROM {schema}.inbox WHERE processed_at < now() - @retention", new { retention });
                if (forgotten > 0)
                {
                    logger.LogInformation("Forgot {Count} processed message ids of {Schema}", forgotten, schema);
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
            {
                logger.LogWarning(ex, "Cleaning the {Schema} inbox failed; trying again later", schema);
            }

            await Task.Delay(TimeSpan.FromHours(1), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }
}

public static class OutboxExtensions
{
    /// <summary>Registers the outbox of <paramref name="schema"/> as a keyed singleton, its relay, and the janitor
    /// of the schema's inbox.</summary>
    public static IHostApplicationBuilder AddOutboxAndInbox(this IHostApplicationBuilder builder, string schema)
    {
        builder.AddPlatformDatabase();
        var outbox = new Outbox(schema);
        builder.Services.AddKeyedSingleton(schema, outbox);
        builder.Services.AddKeyedSingleton(schema, (sp, _) => ActivatorUtilities.CreateInstance<OutboxPublisher>(sp, outbox));
        builder.Services.AddSingleton<IHostedService>(sp => ActivatorUtilities.CreateInstance<OutboxRelay>(sp, outbox));
        builder.Services.AddSingleton<IHostedService>(sp => ActivatorUtilities.CreateInstance<InboxJanitor>(sp, schema));
        return builder;
    }
}
