/**
 * The Debezium peer of the CDC benchmarks: Debezium's PostgreSQL connector on
 * Kafka Connect standalone, jars fetched once from Maven Central
 * (`mvn dependency:copy-dependencies` with `cdc_debezium_pom.xml`) into
 * `.cache/debezium/<version>/lib`, so jars of another version never mix in.
 * Shared by `cdc.ts` (throughput) and `cdc_parity.ts` (field-by-field parity).
 *
 * @module
 */

/** The Debezium release the pom pins (the folder of its jars). */
export const DEBEZIUM_VERSION = "3.6.1.Final";
/** Kafka Connect release Debezium 3.6.1 is built with (its build-parent pom). */
export const CONNECT_VERSION = "4.3.0";

const DBZ_DIR = `.cache/debezium/${DEBEZIUM_VERSION}`;
/** Repository root as an absolute path (for the JVM's and Maven's arguments). */
const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const POM = "tasks/bench/cdc_debezium_pom.xml";

/** What a Debezium run needs besides the defaults below. */
export interface DebeziumRun {
  /** Connector name, also the run folder `.cache/debezium/<v>/run-<name>`. */
  name: string;
  brokers: string[];
  /** Connect's REST port (must be free). */
  restPort: number;
  /** Connector properties (`topic.prefix`, `slot.name`, ...). */
  connector: Record<string, string>;
  /** JsonConverter `schemas.enable` for keys and values (default false). */
  schemas?: boolean;
}

/** A started Connect worker. */
export interface DebeziumProcess {
  stop(): Promise<void>;
}

/** Fetches the Debezium + Kafka Connect jars once; returns the lib folder. */
export async function debeziumJars(): Promise<string> {
  const lib = `${DBZ_DIR}/lib`;
  const have = await Array.fromAsync(Deno.readDir(lib)).catch(() => []);
  if (have.some((e) => e.name.startsWith("debezium-connector-postgres"))) {
    return lib;
  }
  console.error(
    `fetching Debezium ${DEBEZIUM_VERSION} and Kafka Connect ${CONNECT_VERSION} jars (Maven Central)...`,
  );
  // Into a temporary folder first: an interrupted fetch leaves no half lib.
  const tmp = `${DBZ_DIR}/lib.tmp`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  const out = await new Deno.Command("mvn", {
    args: [
      "-q",
      "-f",
      POM,
      "dependency:copy-dependencies",
      `-DoutputDirectory=${ROOT}${tmp}`,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("mvn dependency:copy-dependencies failed");
  await Deno.rename(tmp, lib);
  return lib;
}

/** The PostgreSQL connection every run uses (the dev cluster's). */
export const PG_CONNECTOR: Readonly<Record<string, string>> = {
  "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
  "tasks.max": "1",
  "database.hostname": "127.0.0.1",
  "database.port": "15432",
  "database.user": "postgres",
  "database.password": "postgres",
  "database.dbname": "shop",
  "plugin.name": "pgoutput",
  "publication.autocreate.mode": "disabled",
  "snapshot.mode": "initial",
  "decimal.handling.mode": "string",
};

function properties(p: Record<string, string>): string {
  return Object.entries(p).map(([k, v]) => `${k}=${v}`).join("\n") + "\n";
}

/** Starts Connect standalone with one Debezium PostgreSQL connector. */
export async function startDebezium(r: DebeziumRun): Promise<DebeziumProcess> {
  const lib = await debeziumJars();
  const run = `${DBZ_DIR}/run-${r.name}`;
  await Deno.mkdir(run, { recursive: true });
  await Deno.remove(`${run}/offsets.dat`).catch(() => {});
  await Deno.writeTextFile(
    `${run}/worker.properties`,
    properties({
      "bootstrap.servers": r.brokers.join(","),
      "key.converter": "org.apache.kafka.connect.json.JsonConverter",
      "value.converter": "org.apache.kafka.connect.json.JsonConverter",
      "key.converter.schemas.enable": String(r.schemas ?? false),
      "value.converter.schemas.enable": String(r.schemas ?? false),
      "offset.storage.file.filename": `${ROOT}${run}/offsets.dat`,
      "offset.flush.interval.ms": "1000",
      "listeners": `http://127.0.0.1:${r.restPort}`,
      "plugin.discovery": "only_scan",
    }),
  );
  await Deno.writeTextFile(
    `${run}/connector.properties`,
    properties({ name: r.name, ...PG_CONNECTOR, ...r.connector }),
  );
  await Deno.writeTextFile(
    `${run}/log4j.properties`,
    "log4j.rootLogger=WARN, stderr\n" +
      // Debezium warns once per type it sees twice across schemas: noise.
      "log4j.logger.io.debezium.connector.postgresql.TypeRegistry=ERROR\n" +
      // 3.6 warns per dropped metrics sample ("queue is full") under load:
      // ~2,000 lines a bench run, noise that buries the figures.
      "log4j.logger.io.debezium.metrics.stats.MeasurementCollector=ERROR\n" +
      "log4j.appender.stderr=org.apache.log4j.ConsoleAppender\n" +
      "log4j.appender.stderr.Target=System.err\n" +
      "log4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n" +
      "log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n\n",
  );
  const child = new Deno.Command("java", {
    args: [
      "-Xmx1g",
      `-Dlog4j.configuration=file:${ROOT}${run}/log4j.properties`,
      "-cp",
      `${lib}/*`,
      "org.apache.kafka.connect.cli.ConnectStandalone",
      `${run}/worker.properties`,
      `${run}/connector.properties`,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  return {
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      await child.status;
    },
  };
}
