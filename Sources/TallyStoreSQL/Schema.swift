import TallyAggregate
import TallyCore

public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var statements: [String]
}

/// The schema, as ordered migrations, written once for both dialects: they differ only in a few types.
public enum Schema {
    public static func migrations(_ dialect: SQLDialect) -> [Migration] {
        let bigint = dialect == .postgres ? "BIGINT" : "INTEGER"
        let serial = dialect == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
        // Migrations 2 and 6 create the rollups with the metrics of their day: a count added later is added to
        // existing tables by its own migration, and must not be in theirs (a new database runs them all).
        let addedLater = Set(addedCounts.map(\.column))
        let firstColumns = UsageMetrics.columns.filter { !addedLater.contains($0) }
        let metrics = firstColumns.map { "\($0) \(bigint) NOT NULL DEFAULT 0" }.joined(separator: ", ")
        func rollup(_ t: RollupTable) -> String { rollupTable(t, metrics) }
        func rollupTable(_ t: RollupTable, _ metrics: String) -> String {
            let dims = t.dimensions.map { "\($0.column) TEXT NOT NULL" }.joined(separator: ", ")
            let key = (["org_id", t.bucket.column] + t.dimensions.map(\.column)).joined(separator: ", ")
            let withoutRowID = dialect == .sqlite ? " WITHOUT ROWID" : ""
            return
                "CREATE TABLE \(t.name) (org_id TEXT NOT NULL, \(t.bucket.column) \(bigint) NOT NULL, \(dims), \(metrics), PRIMARY KEY (\(key)))\(withoutRowID)"
        }
        return [
            Migration(
                version: 1, name: "organizations_projects_tokens",
                statements: [
                    """
                    CREATE TABLE organizations (id TEXT PRIMARY KEY, name TEXT NOT NULL, time_zone TEXT NOT NULL,
                      created_us \(bigint) NOT NULL)
                    """,
                    """
                    CREATE TABLE projects (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      name TEXT NOT NULL, created_us \(bigint) NOT NULL, UNIQUE (org_id, name))
                    """,
                    """
                    CREATE TABLE api_tokens (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      project_id TEXT NOT NULL REFERENCES projects(id), name TEXT, scopes TEXT NOT NULL,
                      secret_hash TEXT NOT NULL UNIQUE, hint TEXT NOT NULL, created_us \(bigint) NOT NULL,
                      last_used_us \(bigint), revoked_us \(bigint))
                    """,
                    "CREATE INDEX api_tokens_org ON api_tokens (org_id, created_us)",
                ]),
            Migration(
                version: 2, name: "usage_events_and_rollups",
                statements: [
                    """
                    CREATE TABLE usage_events (seq \(serial), org_id TEXT NOT NULL, project_id TEXT NOT NULL,
                      event_id TEXT NOT NULL, ts_us \(bigint) NOT NULL, received_us \(bigint) NOT NULL,
                      provider TEXT NOT NULL, model TEXT NOT NULL, operation TEXT NOT NULL,
                      input_tokens \(bigint) NOT NULL, output_tokens \(bigint) NOT NULL,
                      cached_input_tokens \(bigint) NOT NULL, cache_write_input_tokens \(bigint) NOT NULL,
                      cache_write_1h_input_tokens \(bigint) NOT NULL, reasoning_tokens \(bigint) NOT NULL,
                      input_audio_tokens \(bigint) NOT NULL, output_audio_tokens \(bigint) NOT NULL,
                      requests \(bigint) NOT NULL, feature TEXT, user_id TEXT, api_key TEXT, environment TEXT, tags TEXT,
                      status TEXT NOT NULL, http_status \(bigint), error_type TEXT, latency_ms \(bigint), ttft_ms \(bigint),
                      streamed \(bigint), retries \(bigint), finish_reason TEXT, batch \(bigint) NOT NULL, service_tier TEXT,
                      provider_cost_nanos \(bigint), cost_nanos \(bigint), price_id TEXT, source TEXT NOT NULL,
                      UNIQUE (org_id, project_id, event_id))
                    """,
                    "CREATE INDEX usage_events_org_ts ON usage_events (org_id, ts_us, seq)",
                ] + [RollupTable.main, RollupTable.byUser].map(rollup)),
            Migration(
                version: 3, name: "organization_prices_audit_unpriced",
                statements: [
                    """
                    CREATE TABLE price_entries (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      provider TEXT, model TEXT NOT NULL, from_date TEXT NOT NULL, to_date TEXT, definition TEXT NOT NULL,
                      created_us \(bigint) NOT NULL)
                    """,
                    "CREATE INDEX price_entries_org ON price_entries (org_id, model, from_date)",
                    """
                    CREATE TABLE audit_log (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      at_us \(bigint) NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL)
                    """,
                    "CREATE INDEX audit_log_org ON audit_log (org_id, at_us)",
                    // Unpriced events are few; a partial index finds them without scanning the rest.
                    "CREATE INDEX usage_events_unpriced ON usage_events (org_id, provider, model, ts_us) WHERE cost_nanos IS NULL",
                ]),
            Migration(
                version: 4, name: "accounts_sessions_invites_vault",
                statements: [
                    "ALTER TABLE projects ADD COLUMN archived_us \(bigint)",
                    "ALTER TABLE api_tokens ADD COLUMN expires_us \(bigint)",
                    "ALTER TABLE api_tokens ADD COLUMN created_by TEXT",
                    """
                    CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
                      password_hash TEXT NOT NULL, created_us \(bigint) NOT NULL)
                    """,
                    """
                    CREATE TABLE memberships (org_id TEXT NOT NULL REFERENCES organizations(id),
                      user_id TEXT NOT NULL REFERENCES users(id), role TEXT NOT NULL, joined_us \(bigint) NOT NULL,
                      PRIMARY KEY (org_id, user_id))
                    """,
                    "CREATE INDEX memberships_user ON memberships (user_id)",
                    """
                    CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), org_id TEXT NOT NULL,
                      csrf_token TEXT NOT NULL, created_us \(bigint) NOT NULL, last_seen_us \(bigint) NOT NULL)
                    """,
                    "CREATE INDEX sessions_user ON sessions (user_id)",
                    "CREATE TABLE login_failures (account TEXT NOT NULL, address TEXT NOT NULL, at_us \(bigint) NOT NULL)",
                    "CREATE INDEX login_failures_account ON login_failures (account, at_us)",
                    "CREATE INDEX login_failures_address ON login_failures (address, at_us)",
                    """
                    CREATE TABLE invites (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      email TEXT NOT NULL, role TEXT NOT NULL, secret_hash TEXT NOT NULL UNIQUE, created_by TEXT NOT NULL,
                      created_us \(bigint) NOT NULL, expires_us \(bigint) NOT NULL, accepted_us \(bigint), revoked_us \(bigint))
                    """,
                    "CREATE INDEX invites_org ON invites (org_id, created_us)",
                    """
                    CREATE TABLE provider_connections (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      provider TEXT NOT NULL, name TEXT NOT NULL, base_url TEXT, api_key_sealed TEXT, api_key_mask TEXT,
                      admin_key_sealed TEXT, admin_key_mask TEXT, validated_us \(bigint), validation_error TEXT,
                      created_us \(bigint) NOT NULL, updated_us \(bigint) NOT NULL, UNIQUE (org_id, name))
                    """,
                ]),
            Migration(
                version: 5, name: "billing_cycle_day",
                statements: [
                    "ALTER TABLE organizations ADD COLUMN billing_cycle_day INTEGER NOT NULL DEFAULT 1"
                ]),
            // Daily rollups, filled from the hourly ones in the same transaction.
            Migration(
                version: 6, name: "daily_rollups",
                statements: [RollupTable.mainDaily, RollupTable.byUserDaily].flatMap { daily in
                    let hourly = RollupTable.original.first { $0.bucket == .hour && $0.dimensions == daily.dimensions }!
                    let dims = daily.dimensions.map(\.column).joined(separator: ", ")
                    let sums = firstColumns.map { "SUM(\($0))" }.joined(separator: ", ")
                    return [
                        rollup(daily),
                        "INSERT INTO \(daily.name) (org_id, day, \(dims), \(firstColumns.joined(separator: ", "))) "
                            + "SELECT org_id, hour / 24, \(dims), \(sums) FROM \(hourly.name) GROUP BY org_id, hour / 24, \(dims)",
                    ]
                }),
            // The provider ledger: what the providers' own reports say, per bucket and grouping; runs; leases.
            Migration(
                version: 7, name: "provider_sync",
                statements: [
                    """
                    CREATE TABLE provider_usage (org_id TEXT NOT NULL, connection_id TEXT NOT NULL, report TEXT NOT NULL,
                      bucket_start_us \(bigint) NOT NULL, bucket_end_us \(bigint) NOT NULL, group_key TEXT NOT NULL, model TEXT,
                      project_ref TEXT, api_key_ref TEXT, batch \(bigint), service_tier TEXT, context_window TEXT,
                      input_tokens \(bigint) NOT NULL, output_tokens \(bigint) NOT NULL, cached_input_tokens \(bigint) NOT NULL,
                      cache_write_input_tokens \(bigint) NOT NULL, cache_write_1h_input_tokens \(bigint) NOT NULL,
                      reasoning_tokens \(bigint) NOT NULL, input_audio_tokens \(bigint) NOT NULL, output_audio_tokens \(bigint) NOT NULL,
                      requests \(bigint) NOT NULL, units \(bigint) NOT NULL, unit TEXT, cost_nanos \(bigint), price_id TEXT,
                      PRIMARY KEY (connection_id, report, bucket_start_us, group_key))
                    """,
                    "CREATE INDEX provider_usage_org ON provider_usage (org_id, bucket_start_us)",
                    """
                    CREATE TABLE provider_costs (org_id TEXT NOT NULL, connection_id TEXT NOT NULL, report TEXT NOT NULL,
                      bucket_start_us \(bigint) NOT NULL, bucket_end_us \(bigint) NOT NULL, group_key TEXT NOT NULL, project_ref TEXT,
                      api_key_ref TEXT, line_item TEXT, model TEXT, cost_type TEXT, token_type TEXT, service_tier TEXT,
                      amount_nanos \(bigint) NOT NULL, quantity TEXT, quantity_unit TEXT,
                      PRIMARY KEY (connection_id, report, bucket_start_us, group_key))
                    """,
                    "CREATE INDEX provider_costs_org ON provider_costs (org_id, bucket_start_us)",
                    """
                    CREATE TABLE sync_runs (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, connection_id TEXT NOT NULL, trigger_kind TEXT NOT NULL,
                      from_us \(bigint) NOT NULL, to_us \(bigint) NOT NULL, status TEXT NOT NULL, pages \(bigint) NOT NULL,
                      rows_stored \(bigint) NOT NULL, started_us \(bigint) NOT NULL, finished_us \(bigint), error TEXT)
                    """,
                    "CREATE INDEX sync_runs_org ON sync_runs (org_id, started_us)",
                    "CREATE TABLE sync_leases (connection_id TEXT PRIMARY KEY, holder TEXT NOT NULL, until_us \(bigint) NOT NULL)",
                    """
                    CREATE TABLE provider_project_map (org_id TEXT NOT NULL, connection_id TEXT NOT NULL, ref TEXT NOT NULL,
                      project_id TEXT NOT NULL, PRIMARY KEY (connection_id, ref))
                    """,
                ]),
            // Which endpoints the gateway forwards with a connection's key; existing connections get the safe default.
            Migration(
                version: 8, name: "connection_gateway_endpoints",
                statements: [
                    "ALTER TABLE provider_connections ADD COLUMN gateway_endpoints TEXT NOT NULL DEFAULT 'inference'"
                ]),
            // A token made by a token now records the person behind that token, so its scopes follow that
            // person's role; earlier chains (`token:…` pointing at a person's token) are resolved the same way.
            Migration(
                version: 9, name: "token_creators",
                statements: Array(
                    repeating: """
                        UPDATE api_tokens SET created_by = (SELECT c.created_by FROM api_tokens c WHERE 'token:' || c.id = api_tokens.created_by)
                        WHERE created_by LIKE 'token:%' AND EXISTS (SELECT 1 FROM api_tokens c
                          WHERE 'token:' || c.id = api_tokens.created_by AND c.created_by IS NOT NULL)
                        """, count: 4)),
            // Cached audio, priced at a rate of its own: a count on every table that holds the token counts. Stored
            // events and rows had none (their cached audio, if any, was counted as cached text), so 0 is what they say.
            Migration(
                version: 10, name: "cached_input_audio_tokens",
                statements: (["usage_events", "provider_usage"] + RollupTable.original.map(\.name)).map { table in
                    "ALTER TABLE \(table) ADD COLUMN \(TokenClass.cachedInputAudio.column) \(bigint) NOT NULL DEFAULT 0"
                }),
            // Newer revisions of the built-in price catalog, applied without a new binary; the newest one wins.
            Migration(
                version: 11, name: "catalog_revisions",
                statements: [
                    """
                    CREATE TABLE catalog_revisions (revision_us \(bigint) PRIMARY KEY, document TEXT NOT NULL,
                      sha256 TEXT NOT NULL, applied_us \(bigint) NOT NULL, applied_by TEXT NOT NULL)
                    """
                ]),
            // Budgets and alerts (issue 17). Lists (scope, thresholds, channel ids, targets) are JSON text: they are
            // read and written whole, never queried inside. An alert is unique by (org_id, dedupe_key): that key, not a
            // lock, makes it fire once across replicas; its deliveries are an outbox claimed by one replica at a time.
            Migration(
                version: 12, name: "budgets_and_alerts",
                statements: [
                    """
                    CREATE TABLE budgets (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      name TEXT NOT NULL, scope TEXT NOT NULL, period TEXT NOT NULL, custom_from TEXT, custom_to TEXT,
                      amount_nanos \(bigint) NOT NULL, thresholds TEXT NOT NULL, ledger TEXT NOT NULL,
                      channel_ids TEXT NOT NULL, enabled \(bigint) NOT NULL, enforce \(bigint) NOT NULL DEFAULT 0,
                      muted_until_us \(bigint), project_budget_of TEXT, created_us \(bigint) NOT NULL,
                      updated_us \(bigint) NOT NULL, UNIQUE (org_id, name))
                    """,
                    "CREATE UNIQUE INDEX budgets_project ON budgets (org_id, project_budget_of)",
                    """
                    CREATE TABLE alert_channels (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      name TEXT NOT NULL, kind TEXT NOT NULL, targets TEXT NOT NULL, secret_sealed TEXT,
                      created_us \(bigint) NOT NULL, updated_us \(bigint) NOT NULL)
                    """,
                    "CREATE INDEX alert_channels_org ON alert_channels (org_id, created_us)",
                    """
                    CREATE TABLE alerts (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      type TEXT NOT NULL, dedupe_key TEXT NOT NULL, status TEXT NOT NULL, fired_us \(bigint) NOT NULL,
                      budget_id TEXT, rule TEXT, scope TEXT NOT NULL, figures TEXT NOT NULL,
                      acknowledged_us \(bigint), acknowledged_by TEXT, resolved_us \(bigint),
                      UNIQUE (org_id, dedupe_key))
                    """,
                    "CREATE INDEX alerts_org_fired ON alerts (org_id, fired_us, id)",
                    """
                    CREATE TABLE alert_deliveries (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE, channel_id TEXT NOT NULL,
                      status TEXT NOT NULL, attempts \(bigint) NOT NULL, last_error TEXT,
                      next_attempt_us \(bigint) NOT NULL, delivered_us \(bigint), created_us \(bigint) NOT NULL,
                      claimed_by TEXT, claimed_until_us \(bigint))
                    """,
                    "CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_us)",
                    "CREATE INDEX alert_deliveries_alert ON alert_deliveries (org_id, alert_id)",
                    """
                    CREATE TABLE alert_rules (org_id TEXT PRIMARY KEY REFERENCES organizations(id),
                      definition TEXT NOT NULL, updated_us \(bigint) NOT NULL)
                    """,
                ]),
            // Insights (issue 18): unique by (org_id, insight_key), the key stable for a kind and scope, so a finding
            // is one row across daily computations; the settings are one JSON definition per organization (NULL: the
            // defaults) beside when insights were last computed; the weekly digest is an email channel's opt-in, sent
            // once per channel and week by the unique row a replica inserts first.
            Migration(
                version: 13, name: "insights",
                statements: [
                    """
                    CREATE TABLE insights (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      insight_key TEXT NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL, detail TEXT NOT NULL,
                      evidence TEXT NOT NULL, savings_nanos \(bigint), explorer_url TEXT NOT NULL, status TEXT NOT NULL,
                      first_seen_us \(bigint) NOT NULL, last_seen_us \(bigint) NOT NULL, UNIQUE (org_id, insight_key))
                    """,
                    "CREATE INDEX insights_org_seen ON insights (org_id, last_seen_us)",
                    """
                    CREATE TABLE insight_settings (org_id TEXT PRIMARY KEY REFERENCES organizations(id),
                      definition TEXT, computed_us \(bigint), updated_us \(bigint))
                    """,
                    "ALTER TABLE alert_channels ADD COLUMN weekly_digest \(bigint) NOT NULL DEFAULT 0",
                    """
                    CREATE TABLE weekly_digests (org_id TEXT NOT NULL REFERENCES organizations(id),
                      channel_id TEXT NOT NULL, week TEXT NOT NULL, sent_us \(bigint) NOT NULL,
                      PRIMARY KEY (org_id, channel_id, week))
                    """,
                ]),
            // Guardrails (issue 19). A policy's rules are columns (NULL: no such rule; model globs and channel ids are
            // JSON lists). Hits, counters and reservations are written on the gateway's path, possibly after their
            // organization is deleted: no foreign key, so a late write cannot fail a batch. A counter is
            // `settled + reserved`, raised by conditional upserts (SQLStore+GuardCounters); a reservation keeps its
            // holds (JSON) so settling or expiring it takes back exactly what it added.
            Migration(
                version: 14, name: "guardrails",
                statements: [
                    """
                    CREATE TABLE policies (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      name TEXT NOT NULL, project_id TEXT, token_id TEXT, user_id TEXT, feature TEXT, mode TEXT NOT NULL,
                      models_allow TEXT, models_deny TEXT, max_output_tokens \(bigint), max_cost_nanos \(bigint),
                      requests_per_minute \(bigint), tokens_per_minute \(bigint), max_concurrent \(bigint),
                      channel_ids TEXT NOT NULL, created_us \(bigint) NOT NULL, updated_us \(bigint) NOT NULL,
                      UNIQUE (org_id, name))
                    """,
                    """
                    CREATE TABLE policy_hits (seq \(serial), org_id TEXT NOT NULL, policy_id TEXT, budget_id TEXT,
                      rule TEXT NOT NULL, mode TEXT NOT NULL, at_us \(bigint) NOT NULL, project_id TEXT NOT NULL,
                      model TEXT, message TEXT NOT NULL)
                    """,
                    "CREATE INDEX policy_hits_org_at ON policy_hits (org_id, at_us)",
                    "CREATE INDEX policy_hits_at ON policy_hits (at_us)",
                    """
                    CREATE TABLE guard_counters (org_id TEXT NOT NULL, key TEXT NOT NULL, settled \(bigint) NOT NULL,
                      reserved \(bigint) NOT NULL, expires_us \(bigint) NOT NULL, PRIMARY KEY (org_id, key))
                    """,
                    "CREATE INDEX guard_counters_expiry ON guard_counters (expires_us)",
                    """
                    CREATE TABLE guard_reservations (org_id TEXT NOT NULL, id TEXT NOT NULL, holds TEXT NOT NULL,
                      expires_us \(bigint) NOT NULL, PRIMARY KEY (org_id, id))
                    """,
                    "CREATE INDEX guard_reservations_expiry ON guard_reservations (expires_us)",
                ]),
            // The per-call cost rule is named as in the API (`max_cost_per_request_usd`) in hits too; hits written
            // under its first name are renamed, so a store that ran the first release of issue 19 still reads them.
            Migration(
                version: 15, name: "policy hit rule names",
                statements: [
                    "UPDATE policy_hits SET rule = 'max_cost_per_request_usd' WHERE rule = 'max_cost_per_request'"
                ]),
            // Finance reports (issue 20). A project is in at most one team: the key of `team_projects` is the project.
            // A closed month keeps its statements as they were at closing (`statements`: one JSON document per
            // grouping, `StatementCodec`), and its range in UTC so re-pricing can refuse its events without knowing
            // the zone it was closed in; `period_closings` counts closings, so a month closed again gets a new number. Email
            // channels opt in to scheduled statements by a column each; `report_mailings` sends each once per period.
            Migration(
                version: 16, name: "teams and closed periods",
                statements: [
                    """
                    CREATE TABLE teams (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      name TEXT NOT NULL, created_us \(bigint) NOT NULL, updated_us \(bigint) NOT NULL,
                      UNIQUE (org_id, name))
                    """,
                    """
                    CREATE TABLE team_projects (org_id TEXT NOT NULL, project_id TEXT NOT NULL,
                      team_id TEXT NOT NULL REFERENCES teams(id), PRIMARY KEY (org_id, project_id))
                    """,
                    "CREATE INDEX team_projects_team ON team_projects (team_id)",
                    """
                    CREATE TABLE closed_periods (org_id TEXT NOT NULL REFERENCES organizations(id), month TEXT NOT NULL,
                      number TEXT NOT NULL, from_us \(bigint) NOT NULL, to_us \(bigint) NOT NULL,
                      closed_us \(bigint) NOT NULL, closed_by TEXT NOT NULL, statements TEXT NOT NULL,
                      PRIMARY KEY (org_id, month))
                    """,
                    """
                    CREATE TABLE period_closings (org_id TEXT NOT NULL, month TEXT NOT NULL, closing \(bigint) NOT NULL,
                      PRIMARY KEY (org_id, month, closing))
                    """,
                    "ALTER TABLE alert_channels ADD COLUMN monthly_statement \(bigint) NOT NULL DEFAULT 0",
                    "ALTER TABLE alert_channels ADD COLUMN weekly_summary \(bigint) NOT NULL DEFAULT 0",
                    """
                    CREATE TABLE report_mailings (org_id TEXT NOT NULL REFERENCES organizations(id),
                      channel_id TEXT NOT NULL, report TEXT NOT NULL, period TEXT NOT NULL, sent_us \(bigint) NOT NULL,
                      PRIMARY KEY (org_id, channel_id, report, period))
                    """,
                    // The performance report's rollup: per hour and key, a count per latency (and time to first
                    // token) bucket of `LatencyHistogram`, and the retries summed (metric `retries`, bucket 0).
                    """
                    CREATE TABLE performance_rollup_hourly (org_id TEXT NOT NULL, hour \(bigint) NOT NULL,
                      project_id TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, feature TEXT NOT NULL,
                      source TEXT NOT NULL, metric TEXT NOT NULL, bucket \(bigint) NOT NULL, n \(bigint) NOT NULL,
                      PRIMARY KEY (org_id, hour, project_id, provider, model, feature, source, metric, bucket))
                    """,
                ]),
            // Content, safety and quality (issue 21). Flags are kept on the event as `,a,b,` (`UsageSQL.encodeFlags`).
            // A project's capture mode and retention are columns of its row (off by default); captured bodies are a
            // row per event, sealed (base64 of nonce, ciphertext and tag), deleted by the janitor at `expires_us`.
            Migration(
                version: 17, name: "content capture and safety filters",
                statements: [
                    "ALTER TABLE usage_events ADD COLUMN safety_flags TEXT",
                    "ALTER TABLE usage_events ADD COLUMN quality_flags TEXT",
                    "ALTER TABLE projects ADD COLUMN content_capture TEXT NOT NULL DEFAULT 'off'",
                    "ALTER TABLE projects ADD COLUMN content_retention_days \(bigint) NOT NULL DEFAULT 30",
                    """
                    CREATE TABLE event_contents (org_id TEXT NOT NULL, project_id TEXT NOT NULL, event_id TEXT NOT NULL,
                      key_id TEXT NOT NULL, mode TEXT NOT NULL, request TEXT, response TEXT,
                      request_truncated \(bigint) NOT NULL, response_truncated \(bigint) NOT NULL,
                      expires_us \(bigint) NOT NULL, PRIMARY KEY (org_id, project_id, event_id))
                    """,
                    "CREATE INDEX event_contents_expiry ON event_contents (expires_us)",
                    """
                    CREATE TABLE safety_filters (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
                      name TEXT NOT NULL, project_id TEXT, detectors TEXT NOT NULL, keywords TEXT NOT NULL,
                      patterns TEXT NOT NULL, side TEXT NOT NULL, action TEXT NOT NULL, created_us \(bigint) NOT NULL,
                      updated_us \(bigint) NOT NULL, UNIQUE (org_id, name))
                    """,
                ]),
            // Issue 23. Accounts made before it were all made by someone who typed or was sent the address: verified.
            Migration(
                version: 18, name: "sign-in round 2",
                statements: [
                    "ALTER TABLE users ADD COLUMN email_verified_us \(bigint)",
                    "UPDATE users SET email_verified_us = created_us",
                    """
                    CREATE TABLE user_identities (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
                      provider TEXT NOT NULL, issuer TEXT NOT NULL, subject TEXT NOT NULL, email TEXT,
                      created_us \(bigint) NOT NULL, last_used_us \(bigint), UNIQUE (issuer, subject))
                    """,
                    "CREATE INDEX user_identities_user ON user_identities (user_id)",
                    """
                    CREATE TABLE account_links (id TEXT PRIMARY KEY, kind TEXT NOT NULL,
                      user_id TEXT NOT NULL REFERENCES users(id), secret_hash TEXT NOT NULL UNIQUE,
                      created_us \(bigint) NOT NULL, expires_us \(bigint) NOT NULL, used_us \(bigint))
                    """,
                    "CREATE INDEX account_links_user ON account_links (user_id, kind)",
                    """
                    CREATE TABLE sign_in_flows (state_hash TEXT PRIMARY KEY, provider TEXT NOT NULL, nonce TEXT NOT NULL,
                      code_verifier TEXT NOT NULL, next TEXT NOT NULL, link_user_id TEXT, expires_us \(bigint) NOT NULL)
                    """,
                    """
                    CREATE TABLE login_challenges (secret_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
                      next TEXT NOT NULL, expires_us \(bigint) NOT NULL)
                    """,
                    """
                    CREATE TABLE user_two_factor (user_id TEXT PRIMARY KEY REFERENCES users(id), secret TEXT NOT NULL,
                      enabled_us \(bigint), last_step \(bigint) NOT NULL DEFAULT -1)
                    """,
                    """
                    CREATE TABLE recovery_codes (user_id TEXT NOT NULL REFERENCES users(id), code_hash TEXT NOT NULL,
                      used_us \(bigint), PRIMARY KEY (user_id, code_hash))
                    """,
                    """
                    CREATE TABLE organization_sign_in (org_id TEXT PRIMARY KEY REFERENCES organizations(id),
                      require_sso \(bigint) NOT NULL DEFAULT 0, require_two_factor \(bigint) NOT NULL DEFAULT 0)
                    """,
                ]),
            // Issue 24: where retention has trimmed raw events and rollups (`RetentionStore`); events are trimmed
            // along `usage_events_org_ts`, oldest first.
            Migration(
                version: 19, name: "retention marks",
                statements: [
                    "CREATE TABLE retention_marks (what TEXT PRIMARY KEY, before_us \(bigint) NOT NULL)"
                ]),
            // Issue 24: PostgreSQL's events partitioned by month (`EventPartitions`). The partitioned table is made
            // beside the old one, which stays in use until `SQLStore.partitionEventsStep` has copied it; an empty one
            // is replaced at once. SQLite keeps one table.
            Migration(
                version: 20, name: "partitioned_usage_events",
                statements: dialect == .postgres ? EventPartitions.migration() : []),
            // Issue 24: the narrow rollups (`RollupTable.narrow`), filled from the main ones in the same transaction.
            Migration(
                version: 21, name: "narrow_rollups",
                statements: RollupTable.narrow.flatMap { table in
                    [
                        rollupTable(
                            table,
                            UsageMetrics.columns.map { "\($0) \(bigint) NOT NULL DEFAULT 0" }.joined(separator: ", ")),
                        narrowFill(table, dialect),
                    ]
                }),
        ]
    }

    /// The performance rollup's increments, as one bulk upsert. A count that would pass Int64 stays at its largest:
    /// a histogram that saturates is still a histogram, and an ingest must not fail for it.
    static func performanceIncrements(_ delta: PerformanceDelta) -> SQLBulkInsert {
        let key =
            ["org_id", "hour"] + PerformanceDelta.dimensions.map(\.column) + ["metric", "bucket"]
        let t = "performance_rollup_hourly"
        return SQLBulkInsert(
            table: t, columns: key + ["n"],
            integerColumns: [false, true] + PerformanceDelta.dimensions.map { _ in false } + [false, true, true],
            rows: delta.rows.map { row in
                [.text(row.key.organizationID), .int(row.key.hour)] + row.key.values.map(SQLValue.text)
                    + [.text(row.key.metric), .int(row.key.bucket), .int(row.count)]
            },
            conflict: .update(
                key: key,
                assignments:
                    "n = CASE WHEN \(t).n > \(Int64.max) - excluded.n THEN \(Int64.max) ELSE \(t).n + excluded.n END"),
            mayHoldNulls: false)
    }

    /// A narrow rollup's rows summed from the main table of its bucket. Rows of the main table never pass Int64, but
    /// their sum over fewer dimensions may (only hostile amounts do): such a sum is kept at Int64's largest rather
    /// than stopping the migration. SQLite's SUM fails on overflow, so there it sums the high and low 32 bits apart.
    static func narrowFill(_ table: RollupTable, _ dialect: SQLDialect) -> String {
        let source = table.bucket == .hour ? RollupTable.main : RollupTable.mainDaily
        let key = (["org_id", table.bucket.column] + table.dimensions.map(\.column)).joined(separator: ", ")
        let largest = Int64.max
        let sums = UsageMetrics.columns.map { c in
            dialect == .postgres
                ? "LEAST(SUM(\(c)), \(largest))"
                : "CASE WHEN SUM(\(c) >> 32) >= 2147483647 THEN \(largest) "
                    + "ELSE MIN(SUM(\(c) >> 32) * 4294967296 + SUM(\(c) & 4294967295), \(largest)) END"
        }.joined(separator: ", ")
        return "INSERT INTO \(table.name) (\(key), \(UsageMetrics.columns.joined(separator: ", "))) "
            + "SELECT \(key), \(sums) FROM \(source.name) GROUP BY \(key)"
    }

    /// The token counts added after migration 2 created the tables of counts, each by a migration of its own (10).
    static let addedCounts: [TokenClass] = [.cachedInputAudio]

    /// `INSERT … ON CONFLICT DO UPDATE` adding one row's metrics to a rollup; identical in both dialects.
    /// `rows` is what follows the column list: `VALUES (?, …)` or a `SELECT`.
    ///
    /// An increment that would pass Int64 sets NULL instead, which the NOT NULL column refuses: SQLite would
    /// otherwise turn the column into a float (and every later summary into an error), PostgreSQL would fail with a
    /// bare "bigint out of range". The drivers map that refusal to `TallyError.totalTooLarge` naming the metric.
    /// (Stored totals are never negative, so only a positive increment can overflow; CASE keeps the subtraction
    /// from running on a negative one.)
    public static func rollupUpsert(_ table: RollupTable, rows: String) -> String {
        rollupIncrements(table, rows: []).sql(rows: rows)
    }

    /// The upsert of `rollupUpsert` as a bulk insert of these rows (key, then metrics: `rollupValues`).
    static func rollupIncrements(_ table: RollupTable, rows: [[SQLValue]]) -> SQLBulkInsert {
        let key = ["org_id", table.bucket.column] + table.dimensions.map(\.column)
        let updates = UsageMetrics.columns.map { c in
            let (stored, added) = ("\(table.name).\(c)", "excluded.\(c)")
            return "\(c) = CASE WHEN \(added) <= 0 THEN \(stored) + \(added) "
                + "WHEN \(stored) > \(Int64.max) - \(added) THEN NULL ELSE \(stored) + \(added) END"
        }.joined(separator: ", ")
        return SQLBulkInsert(
            table: table.name, columns: key + UsageMetrics.columns,
            integerColumns: [false, true] + table.dimensions.map { _ in false }
                + UsageMetrics.columns.map { _ in true },
            rows: rows, conflict: .update(key: key, assignments: updates), mayHoldNulls: false
        )
    }

    /// A rollup delta's increments, as one bulk insert.
    static func rollupIncrements(_ delta: RollupDelta) -> SQLBulkInsert {
        rollupIncrements(delta.table, rows: delta.rows.map { rollupValues($0.key, $0.metrics) })
    }

    /// The check that every project of these events still exists. On PostgreSQL it takes key-share locks on them, in
    /// id order as an organization's deletion locks them (`deleteOrganization`): a deletion that began first finishes
    /// first (the project is then gone and the events refused), a later one waits for the events' commit and deletes
    /// them with the rest. SQLite's single writer gives the same order.
    static func liveProjects(_ dialect: SQLDialect, _ ids: Set<String>) -> SQLCheck {
        var s = SQLStatement(dialect, "SELECT id FROM projects WHERE id IN (")
        for (i, id) in ids.sorted().enumerated() {
            if i > 0 { s.append(", ") }
            s.bind(id)
        }
        s.append(dialect == .postgres ? ") ORDER BY id FOR KEY SHARE" : ")")
        return SQLCheck(s, rows: ids.count, otherwise: .notFound("project"))
    }

    /// The metric a rollup column holds, named as the API names it, for a driver's overflow error.
    public static func rollupOverflow(column: String?) -> TallyError {
        guard let index = column.flatMap({ UsageMetrics.columns.firstIndex(of: $0) }) else {
            return .totalTooLarge([
                FieldProblem(field: "totals", reason: "would add up to more than Tally can count exactly")
            ])
        }
        return UsageMetrics.overflow(column: index)
    }

    public static func rollupValues(_ key: RollupKey, _ metrics: UsageMetrics) -> [SQLValue] {
        [.text(key.organizationID), .int(key.bucket)] + key.values.map(SQLValue.text)
            + metrics.columnValues.map(SQLValue.int)
    }
}
