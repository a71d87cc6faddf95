/**
 * "Security events": what the security analyst asks of
 * `analytics.security_events` (ClickHouse), in the spirit of the reference's
 * Grafana log dashboards: volume by type and severity, who attacks, brute
 * force suspects, and the latest critical events.
 *
 * @module
 */
import { chBucket, type DashboardDef, panel, traffic } from "./grafana.ts";

const T = "analytics.security_events";
/** Every query is limited to the time picker range and the chosen severities. */
const WHERE =
  `$__timeFilter(timestamp) AND severity IN (\${severity:singlequote})`;

/** The security events dashboard. */
export const security: DashboardDef = {
  uid: "security-events",
  title: "Security events",
  description:
    "Security events stored by the sink in ClickHouse (analytics.security_events): volume, attackers, brute force, critical events.",
  tags: ["security", "clickhouse"],
  from: "now-1h",
  refresh: "30s",
  variables: [
    {
      kind: "custom",
      name: "severity",
      label: "Severity",
      options: ["info", "low", "medium", "high", "critical"],
      multi: true,
      includeAll: true,
    },
    {
      kind: "custom",
      name: "bf_threshold",
      label: "Brute force: min failures per IP",
      options: ["5", "10", "20", "50", "100"],
      current: "10",
    },
  ],
  items: [
    panel.row("Overview"),
    panel.stat({
      title: "Events",
      description: "Security events in the selected range.",
      unit: "short",
      queries: [{
        format: "table",
        sql: `SELECT count() AS events FROM ${T} WHERE ${WHERE}`,
      }],
    }),
    panel.stat({
      title: "Critical events",
      description:
        "Events with severity critical in the range (any is worth a look).",
      unit: "short",
      thresholds: traffic(1, 10),
      colorBackground: true,
      queries: [{
        format: "table",
        sql:
          `SELECT count() AS critical FROM ${T} WHERE $__timeFilter(timestamp) AND severity = 'critical'`,
      }],
    }),
    panel.stat({
      title: "Distinct source IPs",
      description: "How many different source addresses produced events.",
      unit: "short",
      queries: [{
        format: "table",
        sql: `SELECT uniq(src_ip) AS sources FROM ${T} WHERE ${WHERE}`,
      }],
    }),
    panel.stat({
      title: "Attack scenarios",
      description:
        "Distinct attack bursts (scenario_id), i.e. coordinated sequences such as port scan → brute force → privilege escalation.",
      unit: "short",
      queries: [{
        format: "table",
        sql:
          `SELECT uniqIf(scenario_id, scenario_id != '') AS scenarios FROM ${T} WHERE ${WHERE}`,
      }],
    }),
    panel.stat({
      title: "Blocked or quarantined",
      description:
        "Share of events the controls stopped (action blocked or quarantined).",
      unit: "percentunit",
      decimals: 1,
      queries: [{
        format: "table",
        sql:
          `SELECT countIf(action IN ('blocked', 'quarantined')) / greatest(count(), 1) AS stopped FROM ${T} WHERE ${WHERE}`,
      }],
    }),
    panel.stat({
      title: "Ingest delay p95",
      description:
        "95th percentile of (_ingested_at − event timestamp): how stale the data in ClickHouse is. Rising means the shipper or sink falls behind.",
      unit: "s",
      thresholds: traffic(30, 300),
      queries: [{
        format: "table",
        sql:
          `SELECT quantile(0.95)(toInt64(toUInt32(_ingested_at)) - toInt64(toUInt32(timestamp))) AS delay_s FROM ${T} WHERE ${WHERE}`,
      }],
    }),
    panel.row("Over time"),
    panel.timeseries({
      title: "Events/s by type",
      description:
        "Event rate per event_type. Spikes of one type are attack bursts.",
      unit: "ops",
      stack: true,
      queries: [{
        format: "timeseries",
        sql: `SELECT ${
          chBucket("timestamp")
        } AS time, event_type, count() / $__interval_s AS eps
FROM ${T} WHERE ${WHERE}
GROUP BY time, event_type ORDER BY time`,
      }],
    }),
    panel.timeseries({
      title: "Events/s by severity",
      description: "Event rate per severity.",
      unit: "ops",
      stack: true,
      overrides: [
        ["critical", "dark-red"],
        ["high", "red"],
        ["medium", "orange"],
        ["low", "yellow"],
        ["info", "blue"],
      ].map(([name, color]) => ({
        matcher: { id: "byName", options: name },
        properties: [{
          id: "color",
          value: { mode: "fixed", fixedColor: color },
        }],
      })),
      queries: [{
        format: "timeseries",
        sql: `SELECT ${
          chBucket("timestamp")
        } AS time, severity, count() / $__interval_s AS eps
FROM ${T} WHERE ${WHERE}
GROUP BY time, severity ORDER BY time`,
      }],
    }),
    panel.row("Attackers"),
    panel.table({
      title: "Top source IPs",
      description:
        "Source addresses with the most events, with how varied their activity is and how much of it was critical.",
      w: 12,
      h: 10,
      queries: [{
        format: "table",
        sql: `SELECT src_ip AS "source IP", count() AS events,
  uniq(event_type) AS "event types", countIf(severity IN ('high', 'critical')) AS "high+critical",
  uniq(dst_ip) AS targets, max(timestamp) AS "last seen"
FROM ${T} WHERE ${WHERE}
GROUP BY src_ip ORDER BY events DESC LIMIT 20`,
      }],
    }),
    panel.table({
      title: "Brute-force suspects",
      description:
        "Source IPs with at least $bf_threshold authentication failures or brute_force detections in the range: candidates for blocking.",
      w: 12,
      h: 10,
      queries: [{
        format: "table",
        sql: `SELECT src_ip AS "source IP",
  countIf(event_type IN ('auth_failure', 'brute_force')) AS failures,
  countIf(event_type = 'auth_success') AS successes,
  uniq(user) AS "users tried", uniq(dst_ip) AS targets,
  min(timestamp) AS "first seen", max(timestamp) AS "last seen"
FROM ${T} WHERE ${WHERE}
GROUP BY src_ip HAVING failures >= \${bf_threshold}
ORDER BY failures DESC LIMIT 50`,
      }],
    }),
    panel.piechart({
      title: "Actions taken",
      description: "What the controls did with the events.",
      w: 6,
      h: 9,
      queries: [{
        format: "table",
        sql:
          `SELECT action, count() AS events FROM ${T} WHERE ${WHERE} GROUP BY action ORDER BY events DESC`,
      }],
    }),
    panel.bargauge({
      title: "Most targeted ports",
      description:
        "Destination ports attacked most (high and critical events).",
      w: 6,
      h: 9,
      unit: "short",
      queries: [{
        format: "table",
        sql: `SELECT toString(dst_port) AS port, count() AS events FROM ${T}
WHERE ${WHERE} AND severity IN ('high', 'critical')
GROUP BY port ORDER BY events DESC LIMIT 10`,
      }],
    }),
    panel.table({
      title: "Attack scenarios",
      description: "Each attack burst: its steps, sources and duration.",
      w: 12,
      h: 9,
      queries: [{
        format: "table",
        sql: `SELECT scenario_id AS scenario, count() AS events,
  arrayStringConcat(groupUniqArray(event_type), ', ') AS steps,
  arrayStringConcat(groupUniqArray(src_ip), ', ') AS sources,
  min(timestamp) AS started, max(timestamp) - min(timestamp) AS "duration (s)"
FROM ${T} WHERE ${WHERE} AND scenario_id != ''
GROUP BY scenario_id ORDER BY started DESC LIMIT 50`,
      }],
    }),
    panel.row("Latest critical events"),
    panel.table({
      title: "Recent critical events",
      description: "The 100 most recent critical events, newest first.",
      w: 24,
      h: 12,
      queries: [{
        format: "table",
        sql:
          `SELECT timestamp, event_type, src_ip AS source, concat(dst_ip, ':', toString(dst_port)) AS target,
  protocol, user, host, action, message, scenario_id AS scenario
FROM ${T} WHERE $__timeFilter(timestamp) AND severity = 'critical'
ORDER BY timestamp DESC, timestamp_ms DESC LIMIT 100`,
      }],
    }),
  ],
};
