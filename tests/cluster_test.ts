/**
 * Cluster acceptance tests. The cluster is assumed UP (`deno task up` runs
 * before the tests). The broker-kill test restarts what it kills, so the
 * cluster is left healthy.
 */

// The cluster gate, loaded before the client libraries.
import { chHeaders, pollUntil } from "./_helpers.ts";
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import pg from "pg";
import {
  CLICKHOUSE_HAPROXY_URL,
  CLICKHOUSE_NODES,
  clickhouseUrl,
  HOST,
  KAFKA_BOOTSTRAP,
  POSTGRES,
  SERVICES,
} from "../schemas/topology.ts";
import { installWarningFilter } from "../pipelines/runtime/warnings.ts";
import { composeDrift } from "../tasks/cluster/compose.ts";
import type { ClusterStatus } from "../tasks/cluster/status.ts";

/** Scoped permissions of the launcher (the same as the up/down/status tasks in deno.json). */
const LAUNCHER_FLAGS = [
  "--allow-read=.,/etc/passwd,/usr/bin,/usr/sbin,/usr/local/bin,/usr/local/sbin,/bin,/sbin,/usr/lib/postgresql",
  "--allow-write=.cluster,compose",
  "--allow-net=127.0.0.1:12181,127.0.0.1:15432,127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094," +
  "127.0.0.1:18120,127.0.0.1:18123,127.0.0.1:18124,127.0.0.1:18125,127.0.0.1:18126," +
  "127.0.0.1:19187,127.0.0.1:19090,127.0.0.1:19095",
  "--allow-run=tasks/cluster/daemonize.sh,java,setpriv,kill,ps,docker,docker-compose",
  "--allow-env=NODE_ENV,PGBINARY,PGOPTIONS,PGSSLMODE,PGSSLNEGOTIATION,PGCLIENT_ENCODING," +
  "PGREPLICATION,PGAPPNAME,KAFKAJS_LOG_LEVEL,KAFKAJS_DEBUG_PROTOCOL_BUFFERS,KAFKAJS_DEBUG_EXTENDED_PROTOCOL_BUFFERS," +
  "ALERT_WEBHOOK_URL,CLICKHOUSE_USER,CLICKHOUSE_PASSWORD",
];

const decoder = new TextDecoder();

// KafkaJS 2.2.4 makes Node's timers warn about a harmless negative delay.
installWarningFilter();

async function launcher(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("deno", {
    args: [
      "run",
      "--quiet",
      ...LAUNCHER_FLAGS,
      "tasks/cluster/main.ts",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

async function status(): Promise<ClusterStatus> {
  const r = await launcher("status", "--json");
  return JSON.parse(r.stdout) as ClusterStatus;
}

async function chQuery(
  base: string,
  sql: string,
  params: Record<string, string> = {},
): Promise<string> {
  const url = new URL(base + "/");
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url, {
    method: "POST",
    body: sql,
    headers: chHeaders(),
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`ClickHouse ${base}: ${body}`);
  return body.trim();
}

const sanitize = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "kafka: smoke message round-trips; 3 partitions x 3 in-sync replicas",
  sanitize,
  async () => {
    const kafka = new Kafka({
      clientId: "cluster-test",
      brokers: [...KAFKA_BOOTSTRAP],
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      // A broker restarted by an earlier test may still be catching up: poll.
      const parts = await pollUntil(async () => {
        const meta = await admin.fetchTopicMetadata({ topics: ["smoke"] });
        const ps = meta.topics[0].partitions;
        return ps.every((p) => p.isr.length === p.replicas.length) && ps;
      }, { what: "smoke partitions fully in sync", timeoutMs: 60_000 });
      assert.equal(parts.length, 3);
      for (const p of parts) {
        assert.equal(
          p.replicas.length,
          3,
          `partition ${p.partitionId} replicas`,
        );
        assert.equal(p.isr.length, 3, `partition ${p.partitionId} isr`);
      }
    } finally {
      await admin.disconnect();
    }

    const value = `smoke-${crypto.randomUUID()}`;
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const [sent] = await producer.send({
      topic: "smoke",
      acks: -1,
      messages: [{ key: value, value }],
    });
    await producer.disconnect();

    const consumer = kafka.consumer({
      groupId: `cluster-test-${crypto.randomUUID()}`,
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: ["smoke"], fromBeginning: false });
      let resolveFound: () => void;
      const found = new Promise<void>((r) => resolveFound = r);
      await consumer.run({
        eachMessage: ({ message }) => {
          if (message.value?.toString() === value) resolveFound();
          return Promise.resolve();
        },
      });
      consumer.seek({
        topic: "smoke",
        partition: sent.partition,
        offset: sent.baseOffset ?? "0",
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        found,
        new Promise((_, reject) =>
          timer = setTimeout(
            () => reject(new Error("message not read back")),
            30_000,
          )
        ),
      ]).finally(() => clearTimeout(timer));
    } finally {
      await consumer.disconnect();
    }
  },
);

Deno.test("clickhouse: Distributed insert is on both replicas of its shard and via HAProxy", async () => {
  const id = `smoke-${crypto.randomUUID()}`;
  // 18.16 has no `INSERT ... SETTINGS`: the setting goes in the URL.
  await chQuery(
    clickhouseUrl(CLICKHOUSE_NODES[0]),
    `INSERT INTO analytics.smoke (id, value) VALUES ('${id}', 42)`,
    {
      insert_distributed_sync: "1",
    },
  );
  const shard = await pollUntil(async () => {
    const counts = await Promise.all(
      CLICKHOUSE_NODES.map((n) =>
        chQuery(
          clickhouseUrl(n),
          `SELECT count() FROM analytics.smoke_local WHERE id = '${id}'`,
        ).then(Number)
      ),
    );
    const shards = [...new Set(CLICKHOUSE_NODES.map((n) => n.shard))];
    return shards.find((s) =>
      CLICKHOUSE_NODES.filter((n) => n.shard === s).every((n) =>
        counts[CLICKHOUSE_NODES.indexOf(n)] === 1
      )
    );
  }, {
    what: "row replicated on both replicas of one shard",
    timeoutMs: 30_000,
  });
  const others = CLICKHOUSE_NODES.filter((n) => n.shard !== shard);
  for (const n of others) {
    const c = await chQuery(
      clickhouseUrl(n),
      `SELECT count() FROM analytics.smoke_local WHERE id = '${id}'`,
    );
    assert.equal(
      c,
      "0",
      `row must live only in shard ${shard}, found on ${n.name}`,
    );
  }
  // Several queries through HAProxy (round robin over all nodes) all see the row once.
  for (let i = 0; i < CLICKHOUSE_NODES.length; i++) {
    const c = await chQuery(
      CLICKHOUSE_HAPROXY_URL,
      `SELECT count() FROM analytics.smoke WHERE id = '${id}'`,
    );
    assert.equal(c, "1");
  }
});

Deno.test("postgres: wal_level=logical, users/orders and publication exist", async () => {
  const client = new pg.Client({
    host: HOST,
    port: POSTGRES.port,
    user: POSTGRES.user,
    password: POSTGRES.password,
    database: POSTGRES.database,
  });
  await client.connect();
  try {
    assert.equal(
      (await client.query("SHOW wal_level")).rows[0].wal_level,
      "logical",
    );
    const tables = await client.query(
      "SELECT to_regclass('public.users') AS users, to_regclass('public.orders') AS orders",
    );
    assert.equal(tables.rows[0].users, "users");
    assert.equal(tables.rows[0].orders, "orders");
    const pub = await client.query(
      "SELECT tablename FROM pg_publication_tables WHERE pubname = 'dbz_publication' ORDER BY tablename",
    );
    assert.deepEqual(pub.rows.map((r) => r.tablename), ["orders", "users"]);
    const role = await client.query(
      "SELECT rolcanlogin, rolreplication FROM pg_roles WHERE rolname = 'app_ro'",
    );
    assert.deepEqual(role.rows[0], {
      rolcanlogin: true,
      rolreplication: false,
    });
  } finally {
    await client.end();
  }
});

Deno.test(
  "status: all healthy; a killed broker shows down, `up` brings it back",
  sanitize,
  async () => {
    const before = await status();
    assert.equal(
      before.healthy,
      true,
      JSON.stringify(before.services.filter((s) => !s.healthy)),
    );
    assert.deepEqual(
      before.services.map((s) => s.name),
      SERVICES.map((s) => s.name),
    );
    assert.deepEqual(before.kafka.bootstrap, [...KAFKA_BOOTSTRAP]);
    assert.equal(before.clickhouse.haproxy, CLICKHOUSE_HAPROXY_URL);
    assert.match(
      before.postgres.url,
      /^postgres:\/\/.+@127\.0\.0\.1:15432\/shop$/,
    );
    assert.ok(before.prometheus.url && before.alertmanager.url);
    if (before.mode !== "native") return; // pids only exist natively

    const victim = before.services.find((s) => s.name === "kafka3")!;
    assert.ok(victim.pid, "kafka3 pid");
    try {
      const kill = await new Deno.Command("kill", {
        args: ["-KILL", String(victim.pid)],
      }).output();
      assert.ok(kill.success);
      const down = await pollUntil(async () => {
        const st = await status();
        return !st.services.find((s) => s.name === "kafka3")!.healthy && st;
      }, { what: "kafka3 reported down", timeoutMs: 30_000 });
      const k3 = down.services.find((s) => s.name === "kafka3")!;
      assert.equal(k3.pid, null);
      for (const s of down.services.filter((s) => s.name !== "kafka3")) {
        assert.ok(s.healthy, `${s.name} should stay healthy: ${s.detail}`);
      }
    } finally {
      const up = await launcher("up");
      assert.equal(up.code, 0, up.stdout + up.stderr);
      assert.match(up.stdout, /starting kafka3/);
    }
    const after = await status();
    assert.equal(
      after.healthy,
      true,
      JSON.stringify(after.services.filter((s) => !s.healthy)),
    );
    assert.notEqual(
      after.services.find((s) => s.name === "kafka3")!.pid,
      victim.pid,
    );
    // Leave the cluster as we found it: kafka3 back in every ISR of `smoke`.
    const kafka = new Kafka({
      clientId: "cluster-test",
      brokers: [...KAFKA_BOOTSTRAP],
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await pollUntil(async () => {
        const meta = await admin.fetchTopicMetadata({ topics: ["smoke"] });
        return meta.topics[0].partitions.every((p) => p.isr.length === 3);
      }, { what: "kafka3 back in the ISR of smoke", timeoutMs: 60_000 });
    } finally {
      await admin.disconnect();
    }
  },
);

Deno.test("up a second time is a no-op that ends healthy", async () => {
  const r = await launcher("up");
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /starting /);
  assert.match(r.stdout, /kafka: \d+ topics \(0 created\)/);
  assert.match(r.stdout, /overall: healthy/);
});

Deno.test("compose: committed compose/ matches the topology; docker-compose accepts it", async () => {
  assert.deepEqual(await composeDrift(), [], "run `deno task compose:gen`");
  const compose = (env: Record<string, string>) =>
    new Deno.Command("docker-compose", {
      args: ["-f", "compose/docker-compose.yml", "config", "-q"],
      clearEnv: true,
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
  // The passwords are required: without them compose refuses to start.
  const refused = await compose({});
  assert.equal(refused.success, false);
  assert.match(decoder.decode(refused.stderr), /set CLICKHOUSE_PASSWORD/);
  const out = await compose({
    CLICKHOUSE_PASSWORD: "x",
    CLICKHOUSE_PASSWORD_SHA256: "0".repeat(64),
    CLICKHOUSE_READONLY_PASSWORD: "y",
    CLICKHOUSE_READONLY_PASSWORD_SHA256: "1".repeat(64),
  });
  assert.ok(out.success, decoder.decode(out.stderr));
});

Deno.test("deno.json: cluster tasks run the launcher with exactly its scoped permissions", async () => {
  const cfg = JSON.parse(await Deno.readTextFile("deno.json")) as {
    tasks: Record<string, string>;
  };
  for (const name of ["up", "down", "status", "compose:gen"]) {
    const task = cfg.tasks[name];
    assert.ok(task, `task ${name} missing`);
    assert.match(task, new RegExp(`tasks/cluster/main\\.ts ${name}$`));
    assert.doesNotMatch(task, /(^|\s)(-A|--allow-all)(\s|$)/);
    const flags = task.split(/\s+/).filter((w) => w.startsWith("--allow-"));
    if (name === "up" || name === "compose:gen") {
      assert.deepEqual(flags, LAUNCHER_FLAGS, name);
      continue;
    }
    // status and down: a subset of the launcher's scopes (issue 13, item 15).
    for (const flag of flags) {
      const [kind, scope] = flag.split("=");
      const full = LAUNCHER_FLAGS.find((f) => f.startsWith(`${kind}=`));
      assert.ok(full, `${name}: ${kind} is not among the launcher's`);
      const allowed = full.split("=")[1].split(",");
      for (const s of scope.split(",")) {
        assert.ok(allowed.includes(s), `${name}: ${kind}=${s}`);
      }
    }
  }
  const words = (t: string) => t.split(/\s+/);
  // status only looks: no writes, `ps` only; down needs no network.
  assert.ok(
    !words(cfg.tasks.status).some((w) => w.startsWith("--allow-write")),
  );
  assert.ok(words(cfg.tasks.status).includes("--allow-run=ps"));
  assert.ok(!words(cfg.tasks.down).some((w) => w.startsWith("--allow-net")));
  assert.ok(words(cfg.tasks.down).includes("--allow-write=.cluster"));
});
