/**
 * Config file generators, all derived from {@link ./topology.ts}. The same
 * functions serve native mode (paths under `.cluster/`) and compose mode
 * (container paths), so both modes share ports, cluster layout and settings.
 *
 * @module
 */

import {
  ALERTMANAGER,
  CLICKHOUSE_ALL_NODES_CLUSTER,
  CLICKHOUSE_CLUSTER,
  CLICKHOUSE_NODES,
  type ClickHouseNode,
  EXTRA_SCRAPE_TARGETS,
  HAPROXY,
  HOST,
  KAFKA_BROKERS,
  KAFKA_DEFAULTS,
  type KafkaBroker,
  PIPELINE_TARGETS,
  POSTGRES,
  POSTGRES_EXPORTER,
  PROMETHEUS,
  type ScrapeTarget,
  shardMacro,
  ZOOKEEPER,
} from "../../schemas/topology.ts";
import { toYaml, type YamlValue } from "./yaml.ts";
import {
  ALERTMANAGER_TEMPLATE,
  renderAlertmanagerConfig,
} from "./alertmanager.ts";

/** ZooKeeper `zoo.cfg` (standalone). */
export function zooCfg(dataDir: string): string {
  return [
    "# generated from tasks/cluster/topology.ts",
    "tickTime=2000",
    "initLimit=10",
    "syncLimit=5",
    `dataDir=${dataDir}`,
    `clientPort=${ZOOKEEPER.clientPort}`,
    `clientPortAddress=${HOST}`,
    "maxClientCnxns=0",
    "admin.enableServer=false",
    "4lw.commands.whitelist=ruok,srvr,mntr,stat",
    "autopurge.snapRetainCount=3",
    "autopurge.purgeInterval=1",
    "",
  ].join("\n");
}

/** Kafka `server.properties` for one KRaft combined broker+controller. */
export function kafkaProperties(broker: KafkaBroker, logDir: string): string {
  const voters = KAFKA_BROKERS.map((b) =>
    `${b.nodeId}@${HOST}:${b.controllerPort}`
  ).join(",");
  return [
    "# generated from tasks/cluster/topology.ts",
    "process.roles=broker,controller",
    `node.id=${broker.nodeId}`,
    `controller.quorum.voters=${voters}`,
    `listeners=PLAINTEXT://${HOST}:${broker.port},CONTROLLER://${HOST}:${broker.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${HOST}:${broker.port}`,
    "inter.broker.listener.name=PLAINTEXT",
    "controller.listener.names=CONTROLLER",
    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    `log.dirs=${logDir}`,
    `num.partitions=${KAFKA_DEFAULTS.numPartitions}`,
    `default.replication.factor=${KAFKA_DEFAULTS.replicationFactor}`,
    `min.insync.replicas=${KAFKA_DEFAULTS.minInsyncReplicas}`,
    `offsets.topic.replication.factor=${KAFKA_DEFAULTS.replicationFactor}`,
    "offsets.topic.num.partitions=12",
    `transaction.state.log.replication.factor=${KAFKA_DEFAULTS.replicationFactor}`,
    `transaction.state.log.min.isr=${KAFKA_DEFAULTS.minInsyncReplicas}`,
    "auto.create.topics.enable=false",
    "unclean.leader.election.enable=false",
    "group.initial.rebalance.delay.ms=0",
    "num.network.threads=2",
    "num.io.threads=4",
    "num.recovery.threads.per.data.dir=1",
    "log.retention.hours=168",
    "log.segment.bytes=104857600",
    "",
  ].join("\n");
}

/** log4j (reload4j) config for Kafka and ZooKeeper: everything to stdout. */
export function log4jProperties(): string {
  return [
    "# generated from tasks/cluster/topology.ts",
    "log4j.rootLogger=INFO, stdout",
    "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
    "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
    "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
    "log4j.logger.kafka=INFO",
    "log4j.logger.org.apache.kafka=INFO",
    "log4j.logger.kafka.request.logger=WARN",
    "log4j.logger.kafka.log.LogCleaner=WARN",
    "log4j.logger.state.change.logger=WARN",
    "log4j.logger.kafka.authorizer.logger=WARN",
    "log4j.logger.org.apache.zookeeper=INFO",
    "",
  ].join("\n");
}

/** jmx_prometheus_javaagent config: expose every MBean, lower-cased names. */
export function jmxExporterYaml(): string {
  return toYaml({
    lowercaseOutputName: true,
    lowercaseOutputLabelNames: true,
    // Broker, controller, request and JVM MBeans only: a catch-all scrape of
    // every Kafka MBean is expensive on a small machine.
    includeObjectNames: [
      "kafka.server:*",
      "kafka.controller:*",
      "kafka.network:type=RequestMetrics,*",
      "kafka.cluster:type=Partition,*",
      "java.lang:*",
    ],
    rules: [{ pattern: ".*" }],
  });
}

/** Paths a ClickHouse node config needs. */
export interface ClickHousePaths {
  /** Data path (ends without slash). */
  data: string;
  /** Log file. */
  log: string;
  /** Error log file. */
  errorLog: string;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Where a ClickHouse config takes a password from: its SHA-256 (users.xml),
 * the plain text (only `remote_servers`, which sends it), an environment
 * variable of the server (compose, `from_env`), or nowhere (no password).
 */
export type PasswordSource =
  | { sha256: string }
  | { plain: string }
  | { fromEnv: string }
  | { none: true };

/** Credentials a node uses for Distributed queries to the other nodes. */
export interface RemoteAuth {
  /** User name. */
  user: string;
  /** Its password (`plain` or `fromEnv`). */
  password: PasswordSource;
}

/** One XML element holding a password, or "" for {@link PasswordSource} none. */
export function passwordXml(
  tag: "password" | "password_sha256_hex",
  src: PasswordSource,
): string {
  if ("none" in src) return tag === "password" ? "<password></password>" : "";
  if ("fromEnv" in src) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(src.fromEnv)) {
      throw new Error(`bad environment variable name ${src.fromEnv}`);
    }
    return `<${tag} from_env="${src.fromEnv}"/>`;
  }
  const value = "sha256" in src ? src.sha256 : src.plain;
  return `<${tag}>${xmlEscape(value)}</${tag}>`;
}

/** Credentials of the two `remote_servers` clusters. */
export interface RemoteServersAuth {
  /** {@link CLICKHOUSE_CLUSTER} (Distributed inserts and reads): the admin. */
  cluster: RemoteAuth;
  /** {@link CLICKHOUSE_ALL_NODES_CLUSTER} (dashboards): the read-only user. */
  allNodes: RemoteAuth;
}

function replicaXml(port: number, auth: RemoteAuth | undefined): string[] {
  return [
    "                <replica>",
    `                    <host>${HOST}</host>`,
    `                    <port>${port}</port>`,
    ...(auth
      ? [
        `                    <user>${xmlEscape(auth.user)}</user>`,
        `                    ${passwordXml("password", auth.password)}`,
      ]
      : []),
    "                </replica>",
  ];
}

/**
 * The `remote_servers` clusters: {@link CLICKHOUSE_CLUSTER} (2 shards x 2
 * replicas) and {@link CLICKHOUSE_ALL_NODES_CLUSTER} (each node a shard).
 */
export function clickhouseRemoteServers(auth?: RemoteServersAuth): string {
  const shards = [...new Set(CLICKHOUSE_NODES.map((n) => n.shard))].sort();
  const lines = [`        <${CLICKHOUSE_CLUSTER}>`];
  for (const shard of shards) {
    lines.push(
      "            <shard>",
      "                <internal_replication>true</internal_replication>",
    );
    for (const n of CLICKHOUSE_NODES.filter((x) => x.shard === shard)) {
      lines.push(...replicaXml(n.tcpPort, auth?.cluster));
    }
    lines.push("            </shard>");
  }
  lines.push(`        </${CLICKHOUSE_CLUSTER}>`);
  lines.push(`        <${CLICKHOUSE_ALL_NODES_CLUSTER}>`);
  for (const n of CLICKHOUSE_NODES) {
    lines.push(
      "            <shard>",
      ...replicaXml(n.tcpPort, auth?.allNodes),
      "            </shard>",
    );
  }
  lines.push(`        </${CLICKHOUSE_ALL_NODES_CLUSTER}>`);
  return lines.join("\n");
}

/**
 * Full standalone `config.xml` for one ClickHouse node. Uses the `<yandex>`
 * root and only settings that both 18.16 (Debian, native) and current
 * releases (compose image) accept.
 */
export function clickhouseConfig(
  node: ClickHouseNode,
  paths: ClickHousePaths,
  remoteAuth?: RemoteServersAuth,
): string {
  const d = xmlEscape(paths.data);
  return `<?xml version="1.0"?>
<!-- generated from tasks/cluster/topology.ts: do not edit -->
<yandex>
    <logger>
        <level>information</level>
        <log>${xmlEscape(paths.log)}</log>
        <errorlog>${xmlEscape(paths.errorLog)}</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <http_port>${node.httpPort}</http_port>
    <tcp_port>${node.tcpPort}</tcp_port>
    <interserver_http_port>${node.interserverPort}</interserver_http_port>
    <interserver_http_host>${HOST}</interserver_http_host>
    <listen_host>${HOST}</listen_host>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>${d}/</path>
    <tmp_path>${d}/tmp/</tmp_path>
    <user_files_path>${d}/user_files/</user_files_path>
    <format_schema_path>${d}/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <remote_servers>
${clickhouseRemoteServers(remoteAuth)}
    </remote_servers>
    <zookeeper>
        <node>
            <host>${HOST}</host>
            <port>${ZOOKEEPER.clientPort}</port>
        </node>
        <session_timeout_ms>30000</session_timeout_ms>
    </zookeeper>
    <macros>
        <shard>${shardMacro(node.shard)}</shard>
        <replica>${node.name}</replica>
        <cluster>${CLICKHOUSE_CLUSTER}</cluster>
    </macros>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <partition_by>toYYYYMM(event_date)</partition_by>
        <flush_interval_milliseconds>7500</flush_interval_milliseconds>
    </query_log>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
    <merge_tree>
        <parts_to_throw_insert>600</parts_to_throw_insert>
    </merge_tree>
</yandex>
`;
}

/** Passwords of the users in {@link clickhouseUsers}. */
export interface ClickHouseUsersOptions {
  /** The `default` user's password (full rights, loopback only). */
  admin: PasswordSource;
  /** The read-only user (profile `readonly`), when there is one. */
  readonly?: { user: string; password: PasswordSource };
}

function userXml(
  name: string,
  password: PasswordSource,
  profile: string,
): string[] {
  const pw = "none" in password
    ? passwordXml("password", password)
    : passwordXml("password_sha256_hex", password);
  return [
    `        <${name}>`,
    `            ${pw}`,
    "            <networks>",
    "                <ip>::1</ip>",
    "                <ip>127.0.0.1</ip>",
    "                <ip>::ffff:127.0.0.1</ip>",
    "            </networks>",
    `            <profile>${profile}</profile>`,
    "            <quota>default</quota>",
    `        </${name}>`,
  ];
}

/**
 * ClickHouse `users.xml`: user `default` and, optionally, a read-only user,
 * loopback only. Passwords appear only as SHA-256 (or `from_env`).
 */
export function clickhouseUsers(
  opts: ClickHouseUsersOptions = { admin: { none: true } },
): string {
  if (opts.readonly && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(opts.readonly.user)) {
    throw new Error(`bad ClickHouse user name ${opts.readonly.user}`);
  }
  const users = [
    ...userXml("default", opts.admin, "default"),
    ...(opts.readonly
      ? userXml(opts.readonly.user, opts.readonly.password, "readonly")
      : []),
  ].join("\n");
  return `<?xml version="1.0"?>
<!-- generated from tasks/cluster/topology.ts: do not edit -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
        <!-- Dashboards: SELECT only. readonly=2, not 1: 18.16 forbids table
             functions (cluster(), the Cluster dashboard's) under readonly=1;
             INSERT, DDL, DROP and changing readonly stay refused. -->
        <readonly>
            <readonly>2</readonly>
            <max_memory_usage>2000000000</max_memory_usage>
            <skip_unavailable_shards>1</skip_unavailable_shards>
            <prefer_localhost_replica>0</prefer_localhost_replica>
        </readonly>
    </profiles>
    <users>
${users}
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`;
}

/** HAProxy config: one HTTP address in front of every ClickHouse node. */
export function haproxyCfg(): string {
  const servers = CLICKHOUSE_NODES.map((n) =>
    `    server ${n.name} ${HOST}:${n.httpPort} check inter 2s fall 2 rise 1`
  );
  return [
    "# generated from tasks/cluster/topology.ts",
    "global",
    "    maxconn 1024",
    "",
    "defaults",
    "    mode http",
    "    timeout connect 3s",
    "    timeout client 300s",
    "    timeout server 300s",
    "    retries 2",
    "    option redispatch",
    "",
    "frontend clickhouse_http",
    `    bind ${HOST}:${HAPROXY.port}`,
    "    default_backend clickhouse_nodes",
    "",
    "backend clickhouse_nodes",
    "    balance roundrobin",
    "    option httpchk GET /ping",
    "    http-check expect status 200",
    ...servers,
    "",
    "# Built-in Prometheus exporter (Debian's haproxy 2.6 and the image have it).",
    "frontend prometheus",
    `    bind ${HOST}:${HAPROXY.metricsPort}`,
    "    http-request use-service prometheus-exporter if { path /metrics }",
    "    no log",
    "",
  ].join("\n");
}

/** Options for {@link prometheusYml}. */
export interface PrometheusOptions {
  /** Rule file globs (absolute natively, container paths in compose). */
  ruleFiles: string[];
  /** Scrape the Kafka JMX exporters (only when the agent is installed). */
  kafkaJmx: boolean;
  /** Scrape ZooKeeper's JMX exporter (only when the agent is installed). */
  zookeeperJmx: boolean;
}

function staticJob(t: ScrapeTarget): YamlValue {
  return {
    job_name: t.job,
    scrape_interval: t.interval,
    metrics_path: t.metricsPath,
    static_configs: [{ targets: t.targets }],
  };
}

/**
 * Prometheus config: self, alertmanager, postgres exporter, Kafka and
 * ZooKeeper JMX exporters (when installed), pipelines, extra targets (HAProxy).
 */
export function prometheusYml(opts: PrometheusOptions): string {
  const jobs: ScrapeTarget[] = [
    { job: "prometheus", targets: [`${HOST}:${PROMETHEUS.port}`] },
    { job: "alertmanager", targets: [`${HOST}:${ALERTMANAGER.port}`] },
    { job: "postgres", targets: [`${HOST}:${POSTGRES_EXPORTER.port}`] },
  ];
  if (opts.kafkaJmx) {
    jobs.push({
      job: "kafka",
      targets: KAFKA_BROKERS.map((b) => `${HOST}:${b.jmxPort}`),
      interval: "15s",
    });
  }
  if (opts.zookeeperJmx) {
    jobs.push({
      job: "zookeeper",
      targets: [`${HOST}:${ZOOKEEPER.jmxPort}`],
    });
  }
  jobs.push(...PIPELINE_TARGETS, ...EXTRA_SCRAPE_TARGETS);
  const header = [
    "# generated from tasks/cluster/topology.ts: do not edit",
    "# ClickHouse 18.16 (native mode) has no Prometheus endpoint, so it is not scraped.",
    "",
  ].join("\n");
  return header + toYaml({
    global: { scrape_interval: "5s", evaluation_interval: "5s" },
    rule_files: opts.ruleFiles,
    alerting: {
      alertmanagers: [{
        static_configs: [{ targets: [`${HOST}:${ALERTMANAGER.port}`] }],
      }],
    },
    scrape_configs: jobs.map(staticJob),
  });
}

/**
 * Alertmanager config: the template of dashboards/alertmanager/alertmanager.yml
 * rendered with the webhook URL (see ./alertmanager.ts).
 */
export function alertmanagerYml(template: string, webhookUrl: string): string {
  return [
    `# generated from ${ALERTMANAGER_TEMPLATE} by tasks/cluster: do not edit`,
    "# (the receiver URL comes from env ALERT_WEBHOOK_URL at `deno task up`)",
    "",
  ].join("\n") + renderAlertmanagerConfig(template, webhookUrl);
}

/** PostgreSQL settings (native `postgresql.conf` and compose `-c` flags). */
export function postgresSettings(): Record<string, string> {
  return {
    listen_addresses: HOST,
    port: String(POSTGRES.port),
    wal_level: "logical",
    max_replication_slots: "10",
    max_wal_senders: "10",
    max_connections: "100",
    shared_buffers: "128MB",
    password_encryption: "scram-sha-256",
    timezone: "UTC",
    log_timezone: "UTC",
  };
}

/** `postgresql.conf` for the native instance. */
export function postgresConf(extra: Record<string, string>): string {
  const all = { ...postgresSettings(), ...extra };
  return "# generated from tasks/cluster/topology.ts: do not edit\n" +
    Object.entries(all).map(([k, v]) => `${k} = '${v.replace(/'/g, "''")}'`)
      .join("\n") +
    "\n";
}

/** `pg_hba.conf`: scram over loopback, including replication. */
export function pgHba(): string {
  return [
    "# generated from tasks/cluster/topology.ts: do not edit",
    "local   all          all                  peer",
    `host    all          all   ${HOST}/32   scram-sha-256`,
    `host    replication  all   ${HOST}/32   scram-sha-256`,
    "",
  ].join("\n");
}

/** libpq URL the postgres exporter uses. */
export function postgresExporterDsn(): string {
  return `postgresql://${POSTGRES.user}:${POSTGRES.password}@${HOST}:${POSTGRES.port}/${POSTGRES.database}?sslmode=disable`;
}
